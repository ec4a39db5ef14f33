"""Small probes and commands the end-to-end tests share (one copy each): the host's
namespaces, what runs in one, what an instance's HTTP request or ping gets back, a
router as the orchestrator's RPC API shows it, the ``openstack`` command as the
clouds.yaml of ``tools/aio --keystone`` names it, and the stack's logs for a failure
message. The tests in this directory and its conftest import them; each is plain I/O,
no state of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from astara.burnin.host import in_ns

OPENSTACK = Path(sys.executable).parent / "openstack"


def netns() -> set[str]:
    """The host's network namespaces, by name."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def appliance_netns() -> set[str]:
    """The appliances' namespaces (routers' and load balancers')."""
    return {n for n in netns() if n.startswith("astara-appliance-")}


def haproxy_in(ns: str) -> bool:
    """Whether an haproxy process runs in namespace ``ns``."""
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    for pid in out.split():
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "haproxy":
                    return True
        except OSError:
            continue
    return False


def answers(client_ns: str, address: str) -> str | None:
    """The body an HTTP GET of ``address`` from ``client_ns`` gets (the responder's
    name), None when nothing answers within 2 s."""
    r = subprocess.run(["ip", "netns", "exec", client_ns, "curl", "-s", "--max-time", "2",
                        f"http://{address}/"], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def curl(ns: str, url: str) -> str:
    """What ``curl`` from namespace ``ns`` gets at ``url`` within 2 s ("" for nothing)."""
    return in_ns(ns, "curl", "-s", "-m", "2", url, check=False).stdout.strip()


def pings(ns: str, address: str) -> bool:
    """Whether one ping from namespace ``ns`` to ``address`` is answered within 1 s."""
    return in_ns(ns, "ping", "-c1", "-W1", address, check=False).returncode == 0


def clouds_env(state: Path) -> dict[str, str]:
    """This process's environment with the stack's clouds.yaml and no ``OS_*`` of the
    caller's (they would override it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(state / "clouds.yaml")
    return env


def openstack_cli(state: Path, *args: str) -> dict | list | str:
    """The ``openstack`` command as the demo member (cloud ``astara``), JSON when asked."""
    done = subprocess.run([str(OPENSTACK), "--os-cloud", "astara", *args],
                          env=clouds_env(state), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"openstack {' '.join(args)}: {done.stderr}"
    return json.loads(done.stdout) if "json" in args else done.stdout


def logs(state: Path, tail: int = 3000) -> str:
    """The last ``tail`` characters of each of the stack's logs, for a failure message."""
    return "\n".join(f"--- {p.name}\n{p.read_text()[-tail:]}"
                     for p in sorted((state / "logs").glob("*.log")))
