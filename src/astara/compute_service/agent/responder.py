"""The tenant profile's tiny HTTP responder: answers every GET with the instance's name.

Load-balancer and connectivity tests read which instance answered. Dual-stack on
port 80 by default; one request per connection. Each instance has a responder
process of its own in its namespace, tracked by a pid file like the DHCP client.

Started two ways, both by path with an isolated interpreter that loads no
site-packages and imports only the C modules ``_socket`` and ``select`` at start:

- ``python -I -S responder.py --zygote SOCKET``: one small process per host (started
  by the agent when first needed, in its own session) that forks a responder for each
  request on its Unix socket. A fork of this small, single-threaded process costs well
  under a millisecond where starting an interpreter costs ~20 ms of CPU. The child
  writes its pid file first, then enters the instance's namespace (``setns``), listens,
  and only then tells the zygote it is ready, so a request's answer says whether the
  responder really serves. The zygote exits after ``--idle`` seconds without a child.
- ``python -I -S responder.py --name NAME``, run inside the namespace (``command``):
  the fallback when the zygote cannot be reached.
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


def listen(port: int) -> _socket.socket:
    listener = _socket.socket(_socket.AF_INET6, _socket.SOCK_STREAM)
    listener.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    listener.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 0)
    listener.bind(("::", port))
    listener.listen(128)
    listener.setblocking(False)
    return listener


def serve_forever(listener: _socket.socket, answer: bytes) -> None:
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


def serve(name: str, port: int) -> None:
    serve_forever(listen(port), response(name))


# The zygote ------------------------------------------------------------------------
# Its own setns(2) through ctypes, not astara.common.netns: this file runs in an
# isolated interpreter without site-packages (no pyroute2), and os.setns needs 3.12.
CLONE_NEWNET = 0x40000000
READY_TIMEOUT = 2.0  # seconds a forked responder has to say it listens


def zygote_command(python: str, socket_path: str, idle: float) -> list[str]:
    return [python, "-I", "-S", __file__, "--zygote", socket_path, "--idle", str(idle)]


def _read_line(conn: _socket.socket, limit: int = 65536) -> bytes:
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(4096)
        if not chunk or len(data) > limit:
            break
        data += chunk
    return data.split(b"\n", 1)[0]


def _child(req: dict, ready_w: int, libc) -> None:
    """In the forked child: never returns."""
    import os
    import signal

    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        log = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        with open(req["pidfile"], "w") as out:  # tracked before anything else
            out.write(f"{os.getpid()}\n")
        os.chdir(os.path.dirname(req["pidfile"]))
        nsfd = os.open(req["netns"], os.O_RDONLY)
        if libc.setns(nsfd, CLONE_NEWNET) != 0:
            import ctypes

            raise OSError(ctypes.get_errno(), f"setns into {req['netns']} failed")
        os.close(nsfd)
        listener = listen(int(req.get("port", 80)))
        os.write(ready_w, b"ok")
        os.close(ready_w)
        serve_forever(listener, response(str(req["name"])))
    except BaseException as exc:  # noqa: BLE001 - reported to the zygote, then gone
        try:
            os.write(ready_w, f"{type(exc).__name__}: {exc}".encode()[:4000])
        finally:
            os._exit(1)


def _fork_responder(req: dict, libc, close: list) -> int:
    import os
    import signal

    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        for sock in close:
            sock.close()
        _child(req, ready_w, libc)
    os.close(ready_w)
    ready, _, _ = select.select([ready_r], [], [], READY_TIMEOUT)
    said = os.read(ready_r, 4096) if ready else b""
    os.close(ready_r)
    if said != b"ok":
        try:  # noqa: SIM105 - no contextlib: this file imports as little as it can
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        raise RuntimeError(said.decode(errors="replace") or
                           f"no answer from the responder in {READY_TIMEOUT} s")
    return pid


def zygote(socket_path: str, idle: float) -> None:
    import ctypes
    import json
    import os
    import signal
    import time

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the children
    libc = ctypes.CDLL(None, use_errno=True)
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    server = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    old_umask = os.umask(0o077)
    server.bind(socket_path)
    os.umask(old_umask)
    server.listen(64)
    children: set[int] = set()
    last_busy = time.monotonic()
    try:
        while True:
            ready, _, _ = select.select([server], [], [], 1.0)
            alive = set()
            for pid in children:
                try:
                    os.kill(pid, 0)
                    alive.add(pid)
                except ProcessLookupError:
                    pass
            children = alive
            if children or ready:
                last_busy = time.monotonic()
            elif time.monotonic() - last_busy > idle:
                return
            if not ready:
                continue
            conn = _socket.socket(fileno=server._accept()[0])
            try:
                conn.settimeout(5)
                req = json.loads(_read_line(conn))
                reply = {"pid": _fork_responder(req, libc, [server, conn])}
                children.add(reply["pid"])
            except Exception as exc:  # noqa: BLE001 - the requester falls back
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            try:
                conn.sendall(json.dumps(reply).encode() + b"\n")
            except OSError:
                pass
            finally:
                conn.close()
    finally:
        server.close()
        try:  # noqa: SIM105 - no contextlib: this file imports as little as it can
            os.unlink(socket_path)
        except FileNotFoundError:
            pass


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--zygote"] and len(args) >= 2:
        idle = float(args[3]) if args[2:3] == ["--idle"] and len(args) >= 4 else 30.0
        zygote(args[1], idle)
        return 0
    name, port = _args(args)
    serve(name, port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
