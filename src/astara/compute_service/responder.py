"""The tenant profile's tiny HTTP responder: answers every GET with the instance's name.

The agent runs this file by path inside the instance's namespace with an isolated
interpreter that loads no site-packages (``python -I -S responder.py --name NAME``;
``COMMAND`` builds that line): it imports only ``socket`` and ``selectors``, so a
hundred instances cost a hundred small processes, not a hundred full interpreters.
Load-balancer and connectivity tests read which instance answered. Dual-stack on
port 80 by default; one request per connection.
"""

import selectors
import socket
import sys

MAX_REQUEST = 16384


def command(python: str, name: str, port: int = 80) -> list[str]:
    """The argv that runs this responder (by path: no package import at start)."""
    return [python, "-I", "-S", __file__, "--name", name, "--port", str(port)]


def _args(argv: list[str]) -> tuple[str, int]:
    name, port = None, 80
    it = iter(argv)
    for arg in it:
        if arg == "--name":
            name = next(it, None)
        elif arg == "--port":
            port = int(next(it, "80"))
        else:
            raise SystemExit(f"usage: responder.py --name NAME [--port N] (got {arg!r})")
    if name is None:
        raise SystemExit("usage: responder.py --name NAME [--port N]")
    return name, port


def response(name: str) -> bytes:
    body = f"{name}\n".encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)


def serve(name: str, port: int) -> None:
    answer = response(name)
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    listener.bind(("::", port))
    listener.listen(128)
    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    pending: dict[socket.socket, bytes] = {}
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            if sock is listener:
                try:
                    conn, _addr = listener.accept()
                except OSError:
                    continue
                conn.setblocking(False)
                pending[conn] = b""
                sel.register(conn, selectors.EVENT_READ)
                continue
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            seen = pending.get(sock, b"") + data
            if data and b"\r\n\r\n" not in seen and b"\n\n" not in seen \
                    and len(seen) < MAX_REQUEST:
                pending[sock] = seen
                continue
            if data:
                try:
                    sock.setblocking(True)
                    sock.settimeout(2)
                    sock.sendall(answer)
                except OSError:
                    pass
            sel.unregister(sock)
            pending.pop(sock, None)
            sock.close()


def main(argv=None) -> int:
    name, port = _args(sys.argv[1:] if argv is None else argv)
    serve(name, port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
