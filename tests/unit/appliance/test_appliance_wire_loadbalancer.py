"""The config document's loadbalancer section: what it accepts and what it refuses."""

import copy
import json

import pytest

from astara.wire import DocumentError, parse_config
from astara.wire.examples import loadbalancer_document, router_document


def test_example_is_valid_and_its_digest_follows_a_member_change():
    a = parse_config(loadbalancer_document())
    assert a.loadbalancer is not None and len(a.loadbalancer.pools[0].members) == 2
    b = parse_config(json.loads(json.dumps(loadbalancer_document())))
    assert a.digest() == b.digest()
    doc = loadbalancer_document()
    doc["loadbalancer"]["pools"][0]["members"][0]["weight"] = 5
    assert parse_config(doc).digest() != a.digest()


def test_a_router_document_has_no_loadbalancer():
    assert parse_config(router_document()).loadbalancer is None


def _explained(error: DocumentError) -> str:
    return " ".join(e["msg"] for e in error.errors) + " " + " ".join(
        e["type"] for e in error.errors)


def _lb(mutate):
    doc = loadbalancer_document()
    mutate(doc["loadbalancer"])
    return doc


def _pool(lb, **changes):
    lb["pools"][0].update(changes)


def _monitor(lb, **changes):
    lb["pools"][0]["healthmonitor"].update(changes)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda lb: lb.update(vip_address="192.0.2.99"), "no address of a non-management"),
        (lambda lb: lb.update(vip_address="fdca::3"), "no address of a non-management"),
        (lambda lb: lb["listeners"][1].update(protocol_port=80), "duplicate listener port"),
        (lambda lb: lb["listeners"][0].update(default_pool_id="nope"), "unknown pool nope"),
        (lambda lb: lb["listeners"][0].update(default_pool_id="pool-tcp"), "cannot use pool"),
        (lambda lb: lb["listeners"][0].update(protocol="UDP"), "literal_error"),
        (lambda lb: lb["listeners"][0].update(protocol="TERMINATED_HTTPS"), "needs a certificate"),
        (lambda lb: _pool(lb, members=[lb["pools"][0]["members"][0]] * 2), "duplicate member"),
        (lambda lb: _pool(lb, session_persistence={"type": "APP_COOKIE"}), "needs a cookie_name"),
        (lambda lb: lb["pools"][0]["members"][0].update(weight=257), "less_than_equal"),
        # what reaches haproxy's configuration is a plain token: no spaces, no newlines
        (lambda lb: lb["pools"][0].update(id="pool http"), "string_pattern_mismatch"),
        (lambda lb: _monitor(lb, url_path="/a b"), "string_pattern_mismatch"),
        (lambda lb: _monitor(lb, url_path="/\nx"), "string_pattern_mismatch"),
        (lambda lb: _monitor(lb, expected_codes="200;x"), "string_pattern_mismatch"),
        (lambda lb: lb["listeners"][1].update(l7policies=[
            {"id": "p", "action": "REJECT", "position": 1}]), "need an HTTP listener"),
        (lambda lb: lb["listeners"][0].update(l7policies=[
            {"id": "p", "action": "REDIRECT_TO_URL", "position": 1}]), "names no target"),
        (lambda lb: lb["listeners"][0].update(l7policies=[
            {"id": "p", "action": "REDIRECT_TO_POOL", "position": 1,
             "redirect_pool_id": "ghost"}]), "unknown pool ghost"),
        (lambda lb: lb["listeners"][0].update(l7policies=[
            {"id": "p", "action": "REJECT", "position": 1, "rules": [
                {"id": "r", "type": "HEADER", "compare_type": "EQUAL_TO", "value": "x"}]}]),
         "needs a key"),
    ],
)
def test_rejected_loadbalancer_sections(mutate, message):
    with pytest.raises(DocumentError) as caught:
        parse_config(_lb(mutate))
    assert message in _explained(caught.value)


def test_a_loadbalancer_holds_no_floating_ip():
    doc = copy.deepcopy(loadbalancer_document())
    doc["networks"].append({"network_id": "ext", "network_type": "external",
                            "interface": {"mac_address": "fa:16:3e:00:00:09",
                                          "addresses": ["203.0.113.2/24"]}})
    doc["floating_ips"] = [{"floating_ip": "203.0.113.9", "fixed_ip": "192.0.2.10"}]
    with pytest.raises(DocumentError) as caught:
        parse_config(doc)
    assert "holds no floating IPs" in _explained(caught.value)


def test_l7_policies_on_an_http_listener_are_accepted():
    doc = _lb(lambda lb: lb["listeners"][0].update(l7policies=[
        {"id": "p1", "action": "REDIRECT_TO_URL", "position": 1,
         "redirect_url": "https://example.org/", "rules": [
             {"id": "r1", "type": "PATH", "compare_type": "STARTS_WITH", "value": "/old"}]},
        {"id": "p2", "action": "REDIRECT_TO_POOL", "position": 2, "redirect_pool_id": "pool-http",
         "rules": [{"id": "r2", "type": "COOKIE", "compare_type": "EQUAL_TO", "key": "beta",
                    "value": "1"}]},
    ]))
    listener = parse_config(doc).loadbalancer.listeners[0]
    assert [p.position for p in listener.l7policies] == [1, 2]
