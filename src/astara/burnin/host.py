"""Host-side helpers of the burn-in: an "upstream" namespace on the external bridge,
and commands run inside an instance's namespace (the all-in-one's instances are
namespaces, so the burn-in can look from inside them, as a user on a console would).

Everything created here carries the run id and is removed by ``Upstream.close``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import subprocess
import sys
import textwrap

# argv: address, port, the opener's pid: the server ends once that process is gone
# (killed before its cleanup: it is then no longer this process's parent); 0: never
# (a kept topology's upstream outlives its run).
PEER_SERVER = textwrap.dedent("""
    import http.server, os, sys, threading, time
    def orphaned(parent):
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)
    if int(sys.argv[3]):
        threading.Thread(target=orphaned, args=(int(sys.argv[3]),), daemon=True).start()
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = self.client_address[0].encode()
            self.send_response(200); self.send_header("Content-Length", str(len(body)))
            self.end_headers(); self.wfile.write(body)
        def log_message(self, *a): pass
    http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
""")


def sh(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=check,
                          timeout=timeout)


def in_ns(ns: str, *args: str, check: bool = True, timeout: float = 30):
    return sh("ip", "netns", "exec", ns, *args, check=check, timeout=timeout)


class Upstream:
    """A namespace standing for the internet, plugged into the external network's bridge."""

    def __init__(self, run_id: str, bridge: str, cidr: str, address: str, port: int = 8080):
        self.ns = f"bi-up-{run_id}"
        self.veth = f"bu{run_id}"[:15]
        self.bridge = bridge
        self.address = address
        self.port = port
        self.created_bridge = False
        self._server: subprocess.Popen | None = None
        net = ipaddress.ip_network(cidr)
        self.prefixlen = net.prefixlen

    def open(self, watch_parent: bool = True) -> None:
        """``watch_parent``: its server ends with this process (False: it stays up,
        for a run that keeps what it made)."""
        if sh("ip", "link", "show", self.bridge, check=False).returncode != 0:
            sh("ip", "link", "add", self.bridge, "type", "bridge")
            self.created_bridge = True
        sh("ip", "link", "set", self.bridge, "up")
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0",
           "netns", self.ns)
        sh("ip", "link", "set", self.veth, "master", self.bridge, "up")
        in_ns(self.ns, "ip", "link", "set", "lo", "up")
        in_ns(self.ns, "ip", "addr", "add", f"{self.address}/{self.prefixlen}", "dev", "eth0")
        in_ns(self.ns, "ip", "link", "set", "eth0", "up")
        # ``ip netns exec`` execs the server: this process stays its parent.
        self._server = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, sys.executable, "-c", PEER_SERVER,
             "0.0.0.0", str(self.port), str(os.getpid() if watch_parent else 0)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def close(self) -> None:
        """Its server, link and namespace; the bridge too if it made it and nothing else
        is plugged there (else ``drop_bridge`` once the cloud's ports are gone)."""
        if self._server is not None:
            self._server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._server.wait(5)
            if self._server.poll() is None:
                self._server.kill()
        sh("ip", "link", "del", self.veth, check=False)
        sh("ip", "netns", "del", self.ns, check=False)
        self.drop_bridge()

    def drop_bridge(self) -> None:
        if self.created_bridge:
            members = sh("ip", "-o", "link", "show", "master", self.bridge, check=False)
            if not members.stdout.strip():
                sh("ip", "link", "del", self.bridge, check=False)
