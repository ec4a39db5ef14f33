"""The tenant profile's tiny HTTP responder: answers every GET with the instance's name.

The agent runs this file by path inside the instance's namespace with an isolated
interpreter that loads no site-packages (``python -I -S responder.py --name NAME``;
``command`` builds that line): it imports only the C modules ``_socket`` and
``select`` (``socket`` and ``selectors`` would double its start-up CPU, ~20 -> ~45 ms),
so a hundred instances cost a hundred small processes, not a hundred full interpreters.
Load-balancer and connectivity tests read which instance answered. Dual-stack on
port 80 by default; one request per connection.
"""

import _socket
import select
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
    listener = _socket.socket(_socket.AF_INET6, _socket.SOCK_STREAM)
    listener.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    listener.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 0)
    listener.bind(("::", port))
    listener.listen(128)
    listener.setblocking(False)
    poller = select.epoll()
    poller.register(listener.fileno(), select.EPOLLIN)
    conns: dict[int, _socket.socket] = {}
    pending: dict[int, bytes] = {}
    while True:
        for fd, _events in poller.poll():
            if fd == listener.fileno():
                try:
                    conn = _socket.socket(fileno=listener._accept()[0])
                except OSError:
                    continue
                conn.setblocking(False)
                conns[conn.fileno()] = conn
                pending[conn.fileno()] = b""
                poller.register(conn.fileno(), select.EPOLLIN)
                continue
            sock = conns[fd]
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            seen = pending.get(fd, b"") + data
            if data and b"\r\n\r\n" not in seen and b"\n\n" not in seen \
                    and len(seen) < MAX_REQUEST:
                pending[fd] = seen
                continue
            if data:
                try:
                    sock.settimeout(2)
                    sock.sendall(answer)
                except OSError:
                    pass
            poller.unregister(fd)
            pending.pop(fd, None)
            conns.pop(fd).close()


def main(argv=None) -> int:
    name, port = _args(sys.argv[1:] if argv is None else argv)
    serve(name, port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
