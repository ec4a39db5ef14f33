"""The tenant profile's tiny HTTP responder: answers every GET with the instance's name.

Run inside the instance's namespace by the agent (``python -m
astara.compute_service.responder --name NAME``); load-balancer and connectivity tests
read which instance answered. Dual-stack on port 80 by default.
"""

from __future__ import annotations

import argparse
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="astara-compute-responder")
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, default=80)
    args = parser.parse_args(argv)
    body = f"{args.name}\n".encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    _Server(("::", args.port), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
