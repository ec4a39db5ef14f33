"""Bad input never reaches a 500 or a reset connection: each cause the fuzzer found, pinned.

Bodies too deep, lone surrogates, ids that are objects, scoped IPv6 addresses, bodies
over oslo.middleware's 114,688 bytes, huge values echoed back, odd query strings and
paths: every answer is a 4xx in Neutron's JSON error format. The raw-socket cases talk
HTTP by hand, as a broken or hostile client would.
"""

from __future__ import annotations

import contextlib
import socket

import httpx
import pytest

from tests.integration.network.helpers import error, tenant_network


def test_json_nested_1000_deep_is_a_bad_request(demo):
    body = b'{"network": {"name": ' + b"[" * 1000 + b"]" * 1000 + b"}}"
    with demo.http() as c:
        r = c.post("/networks", content=body)
    assert r.status_code == 400
    assert error(r)["type"] == "HTTPBadRequest"


@pytest.mark.parametrize("body", [
    b'{"network": {"name": "\\ud800"}}',  # escaped
    b'{"network": {"name": "\xed\xa0\x80"}}',  # encoded as (invalid) UTF-8
    b'{"network": {"name": "a\\u0000b"}}',
])
def test_strings_no_database_can_hold_are_refused(demo, body):
    with demo.http() as c:
        before = {n["id"] for n in c.get("/networks").json()["networks"]}
        r = c.post("/networks", content=body)
        assert r.status_code == 400
        assert error(r)["type"] == "HTTPBadRequest"
        # Other tests' shared and external networks are visible too: nothing new appeared.
        assert {n["id"] for n in c.get("/networks").json()["networks"]} == before


@pytest.mark.parametrize("body", [
    {"subnet_id": {"id": "x"}}, {"subnet_id": ["x"]}, {"port_id": {"a": 1}}, {"port_id": [1]},
    {"subnet_id": 5},
])
def test_router_interface_ids_must_be_strings(demo, body):
    with demo.http() as c:
        router = c.post("/routers", json={"router": {"name": "r"}}).json()["router"]
        r = c.put(f"/routers/{router['id']}/add_router_interface", json=body)
        assert r.status_code == 400
        assert "is not a valid UUID" in error(r)["message"]
        r = c.put(f"/routers/{router['id']}/remove_router_interface", json=body)
        assert r.status_code == 400


def test_scoped_ipv6_addresses_are_refused_everywhere(demo):
    net, sub = tenant_network(demo)
    with demo.http() as c:
        v6 = c.post("/subnets", json={"subnet": {"network_id": net.id, "ip_version": 6,
                                                 "cidr": "fd98::/64"}}).json()["subnet"]
        bad = [
            ("/ports", {"port": {"network_id": net.id,
                                 "fixed_ips": [{"ip_address": "fd98::77%a"}]}}),
            ("/ports", {"port": {"network_id": net.id, "allowed_address_pairs": [
                {"ip_address": "fd98::77%a"}]}}),
            ("/subnets", {"subnet": {"network_id": net.id, "ip_version": 6,
                                     "cidr": "fd99::%a/64"}}),
            ("/subnets", {"subnet": {"network_id": net.id, "ip_version": 6, "cidr": "fd97::/64",
                                     "gateway_ip": "fd97::1%a"}}),
            ("/subnets", {"subnet": {"network_id": net.id, "ip_version": 6, "cidr": "fd97::/64",
                                     "allocation_pools": [{"start": "fd97::5%a",
                                                           "end": "fd97::9"}]}}),
            ("/subnets", {"subnet": {"network_id": net.id, "ip_version": 6, "cidr": "fd97::/64",
                                     "dns_nameservers": ["fd97::53%a"]}}),
            ("/routers", {"router": {"routes": [{"destination": "fd96::/64",
                                                 "nexthop": "fd98::1%a"}]}}),
        ]
        for path, body in bad:
            method = "PUT" if path == "/routers" else "POST"
            if method == "PUT":
                router = c.post("/routers", json={"router": {}}).json()["router"]
                path = f"/routers/{router['id']}"
            r = c.request(method, path, json=body)
            assert r.status_code == 400, (path, body, r.text)
            # A subnet's cidr is converted first: Neutron's "is not in a CIDR format".
            assert ("is not a valid IP" in error(r)["message"]
                    or "%a/64 is not in a CIDR format" in error(r)["message"])
        r = c.get("/ports", params={"fixed_ips": "ip_address=fd98::77%a"})
        assert r.status_code == 400
        error(r)
        # The case the fuzzer found: a scoped address beside the plain one, three times over.
        for address in ("fd98::77", "fd98::77%a", "fd98::77%b"):
            c.post("/ports", json={"port": {"network_id": net.id, "fixed_ips": [
                {"subnet_id": v6["id"], "ip_address": address}]}})
        held = [ip["ip_address"] for p in c.get("/ports").json()["ports"]
                for ip in p["fixed_ips"] if ip["subnet_id"] == v6["id"]]
        assert held == ["fd98::77"]
        r = c.post("/ports", json={"port": {"network_id": net.id}})
        assert r.status_code == 201, r.text


def test_a_body_over_the_size_limit_is_413(demo):
    with demo.http() as c:
        r = c.post("/networks", json={"network": {"name": "x" * 120_000}})
    assert r.status_code == 413
    assert error(r) == {"type": "HTTPRequestEntityTooLarge", "message": "Request is too large.",
                        "detail": ""}


def test_a_body_just_under_the_limit_is_read(demo):
    padding = " " * (114_688 - 40)
    body = ('{"network": {"name": "n"}' + padding + "}").encode()
    assert len(body) <= 114_688
    with demo.http() as c:
        r = c.post("/networks", content=body)
    assert r.status_code == 201, r.text


def test_a_chunked_body_over_the_limit_is_413(demo):
    def chunks():
        yield b'{"network": {"name": "'
        for _ in range(200):
            yield b"y" * 1000
        yield b'"}}'
    with demo.http() as c:
        r = c.post("/networks", content=chunks())
    assert r.status_code == 413
    error(r)


def test_a_huge_bad_value_is_not_echoed_back(demo):
    with demo.http() as c:
        r = c.post("/networks", json={"network": {"admin_state_up": "z" * 100_000}})
    assert r.status_code == 400
    assert len(r.content) < 1024
    assert "(100000 characters)" in error(r)["message"]


@pytest.mark.parametrize("query", [
    "limit=abc", "limit=-1", "marker=", "marker=%00", "sort_key=colour", "sort_key=name",
    "sort_dir=up&sort_key=name", "fields=", "fields=%ff%fe", "name=%00", "%zz", "name=%c3%28",
    "mtu=99999999999999999999999", "revision_number=-99999999999999999999", "colour=red",
    "gateway_ip=abc", "=&&=",
])
def test_odd_query_strings_get_json_answers(demo, query):
    with demo.http() as c:
        for plural in ("networks", "subnets"):
            r = c.get(f"/{plural}?{query}")
            assert r.status_code < 500, r.text
            if r.status_code >= 400:
                error(r)
            else:
                assert plural in r.json()


@pytest.mark.parametrize("path", [
    "/v2.0/networks/%00", "/v2.0/networks/%ff%fe", "/v2.0/ne%zztworks",
    "/v2.0/networks/" + "a" * 10_000, "/v2.0/routers/%00/add_router_interface",
    "/v2.0/routers/%00/astara_model", "/v2.0/widgets/x", "/v3",
])
def test_odd_paths_get_json_answers(demo, path):
    r = httpx.request("PUT" if "interface" in path else "GET", f"{demo.server.url}{path}",
                      headers=demo.headers, json={"subnet_id": "x"})
    assert 400 <= r.status_code < 500, r.text
    assert len(r.content) < 1024
    error(r)


def test_methods_a_route_does_not_have_are_405_in_json(demo):
    with demo.http() as c:
        for method, path in (("PATCH", "/networks"), ("DELETE", "/networks"),
                             ("POST", "/routers/x/astara_model")):
            r = c.request(method, path)
            assert r.status_code == 405
            assert error(r)["type"] == "HTTPMethodNotAllowed"


def test_a_project_id_longer_than_a_project_is_refused(network_api):
    r = httpx.post(f"{network_api.url}/v2.0/networks", json={"network": {}},
                   headers={"X-Project-Id": "p" * 256})
    assert r.status_code == 401
    assert error(r)["type"] == "Unauthorized"


def test_an_infinite_mtu_is_a_bad_request(demo):
    with demo.http() as c:
        r = c.post("/networks", content=b'{"network": {"mtu": 1e999}}')
    assert r.status_code == 400
    error(r)


def _exchange(server, data: bytes, read_timeout: float = 10.0) -> bytes:
    """Send ``data`` raw and read the answer; a reset connection fails the test."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=read_timeout) as s:
        # The server may answer and stop reading before taking everything: read the answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            s.sendall(data)
        out = b""
        while b"\r\n\r\n" not in out or len(out.split(b"\r\n\r\n", 1)[1]) < _length(out):
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    assert out.startswith(b"HTTP/1.1 "), out[:200]
    return out


def _length(head: bytes) -> int:
    for line in head.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _headers(identity) -> bytes:
    return b"".join(f"{k}: {v}\r\n".encode() for k, v in identity.headers.items())


def test_huge_headers_are_answered_not_reset(demo):
    answer = _exchange(demo.server, b"GET /v2.0/networks HTTP/1.1\r\nHost: x\r\n" +
                       _headers(demo) + b"X-Big: " + b"a" * 200_000 + b"\r\n\r\n")
    assert _status(answer) == 200


def test_a_5_mib_body_is_answered_413_not_reset(demo):
    body = b'{"network": {"name": "' + b"a" * 5 * 1024 * 1024 + b'"}}'
    answer = _exchange(demo.server, b"POST /v2.0/networks HTTP/1.1\r\nHost: x\r\n" +
                       _headers(demo) + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert _status(answer) == 413
    assert b'"HTTPRequestEntityTooLarge"' in answer


def test_a_declared_length_over_the_limit_is_refused_before_the_body(demo):
    # The client announces 10 MB and sends 2 bytes: the answer comes without waiting.
    answer = _exchange(demo.server, b"POST /v2.0/networks HTTP/1.1\r\nHost: x\r\n" +
                       _headers(demo) + b"Content-Length: 10000000\r\n\r\n{}", read_timeout=5)
    assert _status(answer) == 413


def test_a_body_longer_than_its_content_length_is_answered(demo):
    answer = _exchange(demo.server, b"POST /v2.0/networks HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: close\r\n" + _headers(demo) +
                       b"Content-Length: 2\r\n\r\n{}garbage")
    assert _status(answer) == 400
    assert b"NeutronError" in answer


@pytest.mark.parametrize("request_line", [
    b"GET /v2.0/networks/\xff\xfe HTTP/1.1", b"GET /v2.0/networks?name=\xff HTTP/1.1",
    b"GARBAGE", b"GET /v2.0/networks HTTP/9.9", b"GET  HTTP/1.1",
])
def test_malformed_request_lines_are_answered(demo, request_line):
    answer = _exchange(demo.server, request_line + b"\r\nHost: x\r\nConnection: close\r\n" +
                       _headers(demo) + b"\r\n")
    assert _status(answer) < 500
