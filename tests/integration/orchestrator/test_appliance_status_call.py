"""The health check's status call against real sockets on loopback, answering as told.

It must tell apart what the plan decides on: no connection (unreachable), a
connection but no answer in time (timeout), an answer that is not 200 (error, with
its code), a refusal of our credentials (a ``RemoteError``, never a dead appliance),
and a good status document (its digest, its services' health). A 200 that is no
status document is a failed check; a peer trickling its answer is cut at the timeout
(there a fake socket on a fake clock).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from astara.orchestrator.clients import plain_get
from astara.orchestrator.clients.appliance import HttpApplianceAPI
from astara.orchestrator.clients.base import RemoteError
from astara.orchestrator.reconcile.model import Failure
from astara.wire import auth, examples
from astara.wire.tenure import TENURE_PATH, Tenure

KEY = b"k" * 32
DIGEST = "ab" * 32


def answer(code: int, body: bytes, reason: str = "X") -> bytes:
    # "connection: close", as the canned server closes after each answer: a client that
    # kept the connection for its next call could find it reset.
    return (f"HTTP/1.1 {code} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


def status_body(*healthy: bool) -> bytes:
    return json.dumps({"config_digest": DIGEST, "services": [
        {"name": f"s{i}", "healthy": h} for i, h in enumerate(healthy)]}).encode()


class Canned:
    """Accepts connections on loopback, reads each request's head, sends ``reply``
    (None: answer nothing, keep the connection open) and closes."""

    def __init__(self, reply: bytes | None, family: int = socket.AF_INET):
        self.reply = reply
        self.requests: list[bytes] = []
        self.peers: list[str] = []
        self.sock = socket.socket(family)
        self.sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return  # closed at teardown
            self.peers.append(peer[0])
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                head += chunk
            self.requests.append(head)
            if self.reply is None:
                self._held.append(conn)
                continue
            conn.sendall(self.reply)
            conn.close()

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() (Linux)
        self.sock.close()
        for conn in self._held:
            conn.close()
        self._thread.join(5)


@pytest.fixture
def canned() -> Iterator:
    servers: list[Canned] = []

    def start(reply: bytes | None, family: int = socket.AF_INET) -> Canned:
        servers.append(Canned(reply, family))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def status(port: int, address: str = "127.0.0.1", timeout: float = 2.0):
    api = HttpApplianceAPI(KEY, port, timeout=timeout)
    try:
        return api.status(address, "server-1")
    finally:
        api.close()


def test_a_good_status_gives_its_digest_and_health_and_carries_our_secret(canned):
    server = canned(answer(200, status_body(True, True)))
    seen = status(server.port)
    assert (seen.reachable, seen.config_digest, seen.healthy) == (True, DIGEST, True)
    head = server.requests[0].decode()
    assert head.startswith("GET /v1/status/ HTTP/1.1\r\n")
    secret = auth.bearer(auth.appliance_secret(KEY, "server-1"))
    assert f"{auth.HEADER}: {secret}".lower() in head.lower()


def test_a_service_at_fault_makes_the_appliance_unhealthy(canned):
    seen = status(canned(answer(200, status_body(True, False))).port)
    assert seen.reachable and not seen.healthy


def test_nothing_listening_is_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: the connect is refused
        seen = status(port)
    assert (seen.reachable, seen.failure) == (False, Failure.UNREACHABLE)


def test_a_connection_without_an_answer_is_a_timeout(canned):
    seen = status(canned(None).port, timeout=0.3)
    assert (seen.reachable, seen.failure) == (False, Failure.TIMEOUT)


@pytest.mark.parametrize("code", [500, 503, 404])
def test_an_error_answer_is_an_error_with_its_code(canned, code):
    seen = status(canned(answer(code, b'{"error": "busy"}')).port)
    assert (seen.reachable, seen.failure, seen.http_status) == (False, Failure.ERROR, code)


@pytest.mark.parametrize("reply", [
    b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"config",  # cut short
    b"SSH-2.0-OpenSSH_9.6\r\n\r\n",  # not HTTP
    b"",  # closed at once
])
def test_a_broken_answer_is_unreachable(canned, reply):
    seen = status(canned(reply).port)
    assert (seen.reachable, seen.failure) == (False, Failure.UNREACHABLE)


def test_a_refused_credential_is_a_remote_error(canned):
    with pytest.raises(RemoteError, match="refused our credentials"):
        status(canned(answer(401, b'{"error": "no"}')).port)


def test_an_answer_larger_than_a_status_document_is_refused(canned):
    big = answer(200, b" " * (plain_get.MAX_BODY + 1))
    seen = status(canned(big).port)
    assert (seen.reachable, seen.failure) == (False, Failure.UNREACHABLE)


def test_an_ipv6_management_address(canned):
    if not socket.has_ipv6:
        pytest.fail("this host has no IPv6 loopback")
    server = canned(answer(200, status_body(True)), socket.AF_INET6)
    seen = status(server.port, "::1")
    assert seen.reachable and seen.config_digest == DIGEST
    assert f"host: [::1]:{server.port}" in server.requests[0].decode().lower()


@pytest.mark.parametrize("body", [b"not json", b'{"config_digest": 5}', b"[]", b""])
def test_a_200_that_is_no_status_document_is_a_failed_check_not_a_traceback(canned, body):
    seen = status(canned(answer(200, body)).port)
    assert (seen.reachable, seen.failure) == (False, Failure.UNREACHABLE)


class Trickle:
    """A peer that keeps sending a little at once (a fake socket on a fake clock: each
    read returns at once and takes 10 ms)."""

    def __init__(self, clock: list[float]):
        self.clock, self.reads = clock, 0
        self.head = b"HTTP/1.1 200 OK\r\ncontent-length: 900000\r\n\r\n"

    def sendall(self, data: bytes) -> None:
        pass

    def getsockname(self) -> tuple[str, int]:
        return ("192.0.2.2", 40000)

    def settimeout(self, t: float) -> None:
        assert t > 0

    def recv(self, n: int) -> bytes:
        self.clock[0] += 0.01
        self.reads += 1
        return self.head if self.reads == 1 else b" " * 100

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def test_a_trickling_peer_cannot_hold_the_check_past_its_timeout(monkeypatch):
    clock = [1000.0]
    peer = Trickle(clock)
    monkeypatch.setattr(plain_get.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(plain_get.socket, "create_connection", lambda *a, **k: peer)
    with pytest.raises(plain_get.NoAnswer):
        plain_get.get("192.0.2.1", 5000, "/v1/status/", [], timeout=0.5)
    assert peer.reads <= 52  # the timeout's worth of reads, not the whole 900 kB


def test_the_source_address_the_kernel_chose_is_bound_for_the_next_checks(canned):
    """The first check learns its local address per destination network; later checks
    bind what is learnt (here 127.0.0.2, which the kernel would not choose: the server
    sees it), so the kernel does not weigh every address of the host each time."""
    server = canned(answer(200, status_body(True)))
    api = HttpApplianceAPI(KEY, server.port, timeout=2.0)
    try:
        assert api.status("127.0.0.1", "server-1").reachable
        assert api._sources.get("127.0.0.1") == "127.0.0.1"
        api._sources.learn("127.0.0.1", "127.0.0.2")
        assert api.status("127.0.0.1", "server-1").reachable
    finally:
        api.close()
    assert server.peers == ["127.0.0.1", "127.0.0.2"]


def test_a_learnt_source_no_longer_on_the_host_is_forgotten_and_the_check_still_answers(
        canned):
    server = canned(answer(200, status_body(True)))
    api = HttpApplianceAPI(KEY, server.port, timeout=2.0)
    try:
        api._sources.learn("127.0.0.1", "192.0.2.77")  # TEST-NET: on no host
        seen = api.status("127.0.0.1", "server-1")
        assert (seen.reachable, seen.config_digest) == (True, DIGEST)
        assert api._sources.get("127.0.0.1") == "127.0.0.1"  # the kernel's choice again
    finally:
        api.close()
    assert server.peers == ["127.0.0.1"]  # one request: the failed bind sent nothing


def test_a_bound_source_does_not_turn_a_dead_appliance_into_a_live_one():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    api = HttpApplianceAPI(KEY, port, timeout=2.0)
    try:
        api._sources.learn("127.0.0.1", "127.0.0.1")
        seen = api.status("127.0.0.1", "server-1")
    finally:
        api.close()
    assert (seen.reachable, seen.failure) == (False, Failure.UNREACHABLE)


def every_call(api: HttpApplianceAPI) -> list:
    """The status call, the probe, a tenure and a push: each way the client connects."""
    out: list = []
    for call in (lambda: api.status("127.0.0.1", "server-1"),
                 lambda: api.probe("127.0.0.1", "server-1"),
                 lambda: api.record_tenure("127.0.0.1", "server-1", Tenure(3, "orch-a/1")),
                 lambda: api.push("127.0.0.1", "server-1", examples.router_config())):
        try:
            out.append(call())
        except RemoteError as exc:
            out.append(exc)
    return out


def test_a_configured_source_is_bound_for_every_call_to_an_appliance(canned):
    """``[orchestrator] metadata_address`` set apart from ``management_address``: every
    connection comes from the management address (127.0.0.2 here, which the kernel
    would not choose for 127.0.0.1), so the answers come back to this machine."""
    server = canned(answer(200, status_body(True)))
    api = HttpApplianceAPI(KEY, server.port, timeout=2.0, source="127.0.0.2")
    try:
        status_seen, probed, told, pushed = every_call(api)
    finally:
        api.close()
    assert status_seen.reachable and probed and told is None and pushed is None
    assert server.peers == ["127.0.0.2"] * 4
    assert [r.split(b" ")[:2] for r in server.requests] == [
        [b"GET", b"/v1/status/"], [b"GET", b"/v1/system/interfaces/"],
        [b"PUT", TENURE_PATH.encode()], [b"PUT", b"/v1/system/config/"]]


def test_a_configured_source_not_on_the_host_reaches_no_appliance(canned):
    """Not held here (yet): no call goes out from another address instead, and each
    says it is our management address, not the appliance (no rebuild follows)."""
    server = canned(answer(200, status_body(True)))
    api = HttpApplianceAPI(KEY, server.port, timeout=2.0, source="192.0.2.77")  # TEST-NET
    try:
        seen = every_call(api)
    finally:
        api.close()
    assert all(isinstance(e, RemoteError) and "management_address = '192.0.2.77' is not "
               "on this host" in str(e) for e in seen), seen
    assert server.peers == []
