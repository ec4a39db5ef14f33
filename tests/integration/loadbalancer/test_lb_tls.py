"""TERMINATED_HTTPS listeners with an inline PEM bundle, through openstacksdk and raw
HTTP: the reference shown instead of the bundle (views, lists, notifications), the
bundle checked with `cryptography` (Octavia's faultstrings), other refs not yet, a
bundle scoped to its project, kept apart and gone with its listener, and given to the
orchestrator only in its model."""

from __future__ import annotations

import base64
import json

import pytest
from openstack import exceptions as sdk_exc
from sqlalchemy import func, select

from astara.bus.outbox import OutboxRow
from astara.loadbalancer_service import models as m
from tests.integration.loadbalancer import captures
from tests.tls_certs import bundle, data_uri, issue

LISTENER_KEYS = captures.keys("011_listener_create_http80", 0, "listener")
NEEDS_REF = ("Validation failure: An SNI or default certificate container reference must "
             "be provided for TERMINATED_HTTPS protocol listeners.")


def _service(server):
    return server._server.config.app.state.service


def _outbox_end(lb_api) -> int:
    with _service(lb_api).db.read() as s:
        return s.scalar(select(func.max(OutboxRow.id))) or 0


def _outbox_text(lb_api, after: int) -> str:
    with _service(lb_api).db.read() as s:
        return "\n".join(r.body for r in s.scalars(select(OutboxRow).where(OutboxRow.id > after)))


def _bundles(lb_api) -> list[tuple[str, str, str]]:
    with _service(lb_api).db.read() as s:
        return sorted((c.listener_id, c.ref, c.project_id)
                      for c in s.scalars(select(m.ListenerCertificate)))


@pytest.fixture(scope="module")
def pki():
    ca = issue("test-ca", ca=True)
    www = issue("www.example.test", ca)
    api = issue("api.example.test", ca)
    return {"ca": ca, "www": www, "api": api}


@pytest.fixture
def lb(alice, subnet):
    return alice.lb.create_load_balancer(vip_subnet_id=subnet.id, name="tls")


def _secret_bits(pki) -> list[str]:
    """What must never come back: the keys, as PEM and as the data URI's base64."""
    out = []
    for issued in (pki["www"], pki["api"]):
        pem = issued.key_pem()
        body = b"".join(pem.splitlines()[1:-1]).decode()
        out += [body[:40], base64.b64encode(bundle(issued))[-60:].decode()]
    return out + ["PRIVATE KEY"]


def _post(who, body: dict):
    with who.http() as c:
        return c.post("/lbaas/listeners", json={"listener": body})


def test_a_terminated_https_listener_shows_only_the_reference(alice, boss, lb, pki, lb_api):
    start = _outbox_end(lb_api)
    www = data_uri(bundle(pki["www"], pki["ca"]))
    listener = alice.lb.create_listener(
        loadbalancer_id=lb.id, protocol="TERMINATED_HTTPS", protocol_port=443,
        default_tls_container_ref=www, sni_container_refs=[data_uri(bundle(pki["api"]))])
    ref = listener.default_tls_container_ref
    assert ref.startswith("astara:pem:sha256:") and len(ref) == 18 + 64
    assert len(listener.sni_container_refs) == 1 and listener.sni_container_refs[0] != ref
    with alice.http() as c:
        shown = c.get(f"/lbaas/listeners/{listener.id}").json()["listener"]
        listed = c.get("/lbaas/listeners").text
        tree = c.get(f"/lbaas/loadbalancers/{lb.id}/status").text
    assert set(shown) == LISTENER_KEYS
    assert shown["protocol"] == "TERMINATED_HTTPS" and shown["default_tls_container_ref"] == ref
    assert shown["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert shown["alpn_protocols"] == ["h2", "http/1.1", "http/1.0"]
    assert shown["tls_ciphers"].startswith("TLS_AES_256_GCM_SHA384:")
    assert shown["client_authentication"] == "NONE"
    everything = json.dumps(shown) + listed + tree + _outbox_text(lb_api, start)
    for bit in _secret_bits(pki):
        assert bit not in everything
    assert "data:application" not in everything
    # The orchestrator (admin) gets the bundles, once each, in the model only.
    with boss.http() as c:
        model = c.get(f"/astara/loadbalancers/{lb.id}/model").json()
    pems = {x["ref"]: x["pem"] for x in model["certificates"]}
    assert set(pems) == {ref, *listener.sni_container_refs}
    assert "BEGIN PRIVATE KEY" in pems[ref] and pems[ref].count("BEGIN CERTIFICATE") == 2
    # The same bundle again is the same reference; the reference itself is taken back.
    again = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="TERMINATED_HTTPS",
                                     protocol_port=8443, default_tls_container_ref=ref)
    assert again.default_tls_container_ref == ref
    assert _bundles(lb_api) == sorted([(listener.id, ref, alice.project),
                                       (listener.id, listener.sni_container_refs[0],
                                        alice.project),
                                       (again.id, ref, alice.project)])


def test_a_pool_and_an_l7_policy_under_a_terminated_https_listener(alice, lb, pki):
    listener = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="TERMINATED_HTTPS",
                                        protocol_port=443,
                                        default_tls_container_ref=data_uri(bundle(pki["www"])))
    pool = alice.lb.create_pool(listener_id=listener.id, protocol="HTTP",
                                lb_algorithm="ROUND_ROBIN")
    assert alice.lb.get_listener(listener.id).default_pool_id == pool.id
    policy = alice.lb.create_l7_policy(listener_id=listener.id, action="REJECT")
    assert policy.listener_id == listener.id
    with alice.http() as c:
        r = c.post(f"/lbaas/l7policies/{policy.id}/rules", json={"rule": {
            "type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "True"}})
    assert r.status_code == 400
    assert r.json()["faultstring"] == ("Provider 'astara' does not support a requested "
                                       "option: L7 rule type SSL_CONN_HAS_CERT (client "
                                       "certificate authentication: not yet)")
    with alice.http() as c:
        r = c.post("/lbaas/pools", json={"pool": {"loadbalancer_id": lb.id, "protocol": "HTTPS",
                                                  "lb_algorithm": "ROUND_ROBIN"}})
        https = r.json()["pool"]["id"]
        r = c.put(f"/lbaas/listeners/{listener.id}", json={"listener": {
            "default_pool_id": https}})
    assert (r.status_code, r.json()["faultstring"]) == (
        400, "Validation failure: The pool protocol 'HTTPS' is invalid while the listener "
             "protocol is 'TERMINATED_HTTPS'.")


def test_bad_bundles_and_other_refs_are_400_and_never_repeated(alice, lb, pki, lb_api):
    www, api, ca = pki["www"], pki["api"], pki["ca"]
    cases = [
        (data_uri(b"not a pem at all"), "Could not read X509 from PEM"),
        (data_uri(www.cert_pem() + api.key_pem()), "Key and x509 certificate do not match"),
        (data_uri(www.cert_pem()), "Could not read the private key from PEM: it must be one "
                                   "unencrypted key"),
        (data_uri(www.cert_pem() + www.key_pem(b"pass")), "Could not read the private key "
                                                           "from PEM: it must be one "
                                                           "unencrypted key"),
        (data_uri(b"A" * (64 * 1024 + 1) + bundle(www)),
         "Invalid input for field/attribute default_tls_container_ref. Value: "
         "'data:application/x-pem-file;base64,...'. Value should be a PEM bundle of at "
         "most 65536 bytes once decoded"),
        ("data:application/x-pem-file;base64,@@@" + data_uri(bundle(www))[40:],
         "Invalid input for field/attribute default_tls_container_ref. Value: "
         "'data:application/x-pem-file;base64,...'. Value should be base64"),
        ("https://barbican.example:9311/v1/containers/0b5c1a3e",
         "Provider 'astara' does not support a requested option: default_tls_container_ref "
         "https://barbican.example:9311/v1/containers/0b5c1a3e: only a data URI "
         "'data:application/x-pem-file;base64,...' or an astara:pem reference (no key "
         "manager: not yet)"),
        ("astara:pem:sha256:" + "0" * 64,
         f"Could not retrieve certificate: ['astara:pem:sha256:{'0' * 64}']"),
    ]
    start = _outbox_end(lb_api)
    for ref, message in cases:
        r = _post(alice, {"loadbalancer_id": lb.id, "protocol": "TERMINATED_HTTPS",
                          "protocol_port": 443, "default_tls_container_ref": ref})
        assert (r.status_code, r.json()) == (400, {"faultcode": "Client",
                                                    "faultstring": message,
                                                    "debuginfo": None}), ref[:60]
        for bit in _secret_bits(pki):
            assert bit not in r.text
    # A body echoed for another error never shows the bundle either.
    r = _post(alice, {"loadbalancer_id": lb.id, "protocol": "TERMINATED_HTTPS",
                      "protocol_port": "x", "default_tls_container_ref": data_uri(bundle(www))})
    assert r.status_code == 400 and "invalid literal for int()" in r.text
    assert all(bit not in r.text for bit in _secret_bits(pki))
    # An expired certificate is accepted, as Octavia's parser does.
    old = issue("old.example.test", ca, expired=True)
    assert _post(alice, {"loadbalancer_id": lb.id, "protocol": "TERMINATED_HTTPS",
                         "protocol_port": 443,
                         "default_tls_container_ref": data_uri(bundle(old))}).status_code == 201
    for body, message in [
        ({"protocol": "TERMINATED_HTTPS", "protocol_port": 444}, NEEDS_REF),
        ({"protocol": "HTTP", "protocol_port": 81,
          "default_tls_container_ref": data_uri(bundle(www))},
         "Validation failure: Certificate container references are only allowed on "
         "TERMINATED_HTTPS protocol listeners."),
        ({"protocol": "TERMINATED_HTTPS", "protocol_port": 445,
          "default_tls_container_ref": data_uri(bundle(www)), "tls_versions": ["TLSv1.3"]},
         "Provider 'astara' does not support a requested option: tls_versions other than "
         "['TLSv1.2', 'TLSv1.3'] (not yet)"),
        ({"protocol": "TERMINATED_HTTPS", "protocol_port": 446,
          "default_tls_container_ref": data_uri(bundle(www)),
          "client_ca_tls_container_ref": data_uri(ca.cert_pem())},
         "Provider 'astara' does not support a requested option: "
         "client_ca_tls_container_ref (not yet)"),
    ]:
        r = _post(alice, {"loadbalancer_id": lb.id, **body})
        assert (r.status_code, r.json()["faultstring"]) == (400, message)
    assert [x.protocol_port for x in alice.lb.listeners(loadbalancer_id=lb.id)] == [443]
    assert "PRIVATE KEY" not in _outbox_text(lb_api, start)


def test_a_bundle_belongs_to_its_project(alice, bob, lb, pki, lb_api):
    listener = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="TERMINATED_HTTPS",
                                        protocol_port=443,
                                        default_tls_container_ref=data_uri(bundle(pki["www"])))
    ref = listener.default_tls_container_ref
    net = bob.sdk.network.create_network(name="bob-net")
    sub = bob.sdk.network.create_subnet(network_id=net.id, cidr="10.30.0.0/24", ip_version=4)
    theirs = bob.lb.create_load_balancer(vip_subnet_id=sub.id)
    r = _post(bob, {"loadbalancer_id": theirs.id, "protocol": "TERMINATED_HTTPS",
                    "protocol_port": 443, "default_tls_container_ref": ref})
    assert (r.status_code, r.json()["faultstring"]) == (
        400, f"Could not retrieve certificate: ['{ref}']")
    with pytest.raises(sdk_exc.ForbiddenException):
        bob.lb.get_listener(listener.id)
    assert [x.id for x in bob.lb.listeners()] == []
    with bob.http() as c:
        assert c.get(f"/astara/loadbalancers/{lb.id}/model").status_code == 403
    # The same bundle given inline is bob's own copy, under his project.
    mine = bob.lb.create_listener(loadbalancer_id=theirs.id, protocol="TERMINATED_HTTPS",
                                  protocol_port=443,
                                  default_tls_container_ref=data_uri(bundle(pki["www"])))
    assert mine.default_tls_container_ref == ref
    assert {(x[0], x[2]) for x in _bundles(lb_api) if x[1] == ref} >= {
        (listener.id, alice.project), (mine.id, bob.project)}


def test_updates_replace_the_bundles_and_deletes_take_them(alice, lb, pki, lb_api):
    listener = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="TERMINATED_HTTPS",
                                        protocol_port=443,
                                        default_tls_container_ref=data_uri(bundle(pki["www"])))
    old = listener.default_tls_container_ref
    updated = alice.lb.update_listener(listener, default_tls_container_ref=data_uri(
        bundle(pki["api"])), sni_container_refs=[old])
    new = updated.default_tls_container_ref
    assert new != old and updated.sni_container_refs == [old]
    assert [x[1] for x in _bundles(lb_api) if x[0] == listener.id] == sorted([old, new])
    with alice.http() as c:
        r = c.put(f"/lbaas/listeners/{listener.id}", json={"listener": {
            "default_tls_container_ref": None, "sni_container_refs": []}})
    assert (r.status_code, r.json()["faultstring"]) == (400, NEEDS_REF)
    updated = alice.lb.update_listener(listener, sni_container_refs=[])
    assert updated.sni_container_refs == []
    assert [x[1] for x in _bundles(lb_api) if x[0] == listener.id] == [new]
    alice.lb.delete_listener(listener)
    assert [x for x in _bundles(lb_api) if x[0] == listener.id] == []
    again = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="TERMINATED_HTTPS",
                                     protocol_port=443,
                                     default_tls_container_ref=data_uri(bundle(pki["www"])))
    alice.lb.delete_load_balancer(lb, cascade=True)
    assert [x for x in _bundles(lb_api) if x[0] == again.id] == []


def test_null_refs_on_an_http_listener_change_nothing(alice, lb):
    listener = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="HTTP",
                                        protocol_port=80, default_tls_container_ref=None,
                                        sni_container_refs=[])
    with alice.http() as c:
        r = c.put(f"/lbaas/listeners/{listener.id}", json={"listener": {
            "name": "plain", "default_tls_container_ref": None, "sni_container_refs": []}})
    assert r.status_code == 200, r.text
    shown = r.json()["listener"]
    assert (shown["name"], shown["default_tls_container_ref"], shown["sni_container_refs"],
            shown["tls_versions"]) == ("plain", None, [], None)


def test_a_load_balancer_holds_no_more_certificates_than_its_appliance_can_take(
        alice, lb, subnet, pki, lb_api, monkeypatch):
    from astara.loadbalancer_service.resources import listener_tls
    monkeypatch.setattr(listener_tls, "MAX_CERTIFICATES", 2)
    www, api = data_uri(bundle(pki["www"])), data_uri(bundle(pki["api"]))
    third = data_uri(bundle(issue("third.example.test", pki["ca"])))
    first = alice.lb.create_listener(loadbalancer_id=lb.id, protocol="TERMINATED_HTTPS",
                                     protocol_port=443, default_tls_container_ref=www)
    # the same bundle again counts once
    alice.lb.create_listener(loadbalancer_id=lb.id, protocol="TERMINATED_HTTPS",
                             protocol_port=444, default_tls_container_ref=api,
                             sni_container_refs=[first.default_tls_container_ref])
    before = _bundles(lb_api)
    r = _post(alice, {"loadbalancer_id": lb.id, "protocol": "TERMINATED_HTTPS",
                      "protocol_port": 445, "default_tls_container_ref": third})
    assert r.status_code == 400
    assert r.json()["faultstring"] == (
        "Validation failure: A load balancer's listeners may hold at most 2 distinct "
        "certificates; this would make 3.")
    with alice.http() as c:  # nor by an update of a listener already there
        r2 = c.put(f"/lbaas/listeners/{first.id}", json={"listener": {
            "sni_container_refs": [third]}})
    assert r2.status_code == 400 and _bundles(lb_api) == before
    assert len(list(alice.lb.listeners(loadbalancer_id=lb.id))) == 2
    # another load balancer has its own room
    other = alice.lb.create_load_balancer(vip_subnet_id=subnet.id, name="tls-2")
    alice.lb.create_listener(loadbalancer_id=other.id, protocol="TERMINATED_HTTPS",
                             protocol_port=443, default_tls_container_ref=third)
    before = _bundles(lb_api)
    # and the bytes are bounded too, whatever the count
    monkeypatch.setattr(listener_tls, "MAX_CERTIFICATES", 200)
    monkeypatch.setattr(listener_tls, "MAX_PEM_PER_LOADBALANCER", 3 * len(bundle(pki["www"])))
    r = _post(alice, {"loadbalancer_id": lb.id, "protocol": "TERMINATED_HTTPS",
                      "protocol_port": 446, "default_tls_container_ref": third,
                      "sni_container_refs": [data_uri(bundle(issue("big.example.test")))]})
    assert r.status_code == 400 and "KiB of certificate bundles" in r.json()["faultstring"]
    assert _bundles(lb_api) == before
