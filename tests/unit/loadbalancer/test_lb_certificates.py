"""Inline certificates of TERMINATED_HTTPS listeners: the data URI, the bundle's checks
with `cryptography`, the reference, and messages that never repeat the bundle."""

from __future__ import annotations

import base64

import pytest

from astara.loadbalancer_service import attributes as A
from astara.loadbalancer_service import certificates as C
from astara.loadbalancer_service import errors
from astara.loadbalancer_service.resources import listener_tls
from tests.tls_certs import bundle, data_uri, issue

LB = "11111111-1111-4111-8111-111111111111"


@pytest.fixture(scope="module")
def ca():
    return issue("test-ca", ca=True)


@pytest.fixture(scope="module")
def server(ca):
    return issue("www.example.test", ca, ips=("10.0.0.5",))


def _message(exc: pytest.ExceptionInfo) -> str:
    assert isinstance(exc.value, errors.BadRequest)
    return exc.value.message


def test_a_bundle_with_intermediate_parses_to_a_stable_reference(ca, server):
    uri = data_uri(bundle(server, ca))
    one, two = (C.parse_data_uri("default_tls_container_ref", uri) for _ in range(2))
    assert one == two and C.REFERENCE.match(one.ref)
    assert one.ref == C.reference(one.pem)
    assert one.pem.count("BEGIN CERTIFICATE") == 2
    assert "BEGIN PRIVATE KEY" in one.pem  # re-encoded as PKCS#8, unencrypted
    assert one.ref.removeprefix("astara:pem:sha256:") not in uri


def test_an_expired_certificate_is_accepted_as_octavia_does(ca):
    old = issue("old.example.test", ca, expired=True)
    assert C.parse_data_uri("x", data_uri(bundle(old))).ref.startswith("astara:pem:")


@pytest.mark.parametrize(("make", "message"), [
    (lambda s, o: b"hello", C.UNREADABLE_CERT),
    (lambda s, o: s.key_pem(), C.UNREADABLE_CERT),
    (lambda s, o: s.cert_pem(), C.UNREADABLE_KEY),
    (lambda s, o: s.cert_pem() + s.key_pem() + o.key_pem(), C.UNREADABLE_KEY),
    (lambda s, o: s.cert_pem() + s.key_pem(b"secret"), C.UNREADABLE_KEY),
    (lambda s, o: s.cert_pem() + o.key_pem(), C.MISMATCHED_KEY),
    (lambda s, o: s.cert_pem().replace(b"M", b"A", 3) + s.key_pem(), C.UNREADABLE_CERT),
])
def test_bad_bundles(server, ca, make, message):
    other = issue("other.example.test", ca)
    with pytest.raises(errors.BadRequest) as exc:
        C.parse_data_uri("default_tls_container_ref", data_uri(make(server, other)))
    assert _message(exc) == message


def test_not_base64_and_oversize_never_repeat_the_uri(server):
    key = server.key_pem()
    with pytest.raises(errors.BadRequest) as exc:
        C.parse_data_uri("default_tls_container_ref", C.PREFIX + "%%%" +
                         base64.b64encode(key).decode())
    assert "Value should be base64" in _message(exc) and "LS0t" not in _message(exc)
    big = C.PREFIX + base64.b64encode(b"A" * (C.MAX_BUNDLE + 1) + key).decode()
    with pytest.raises(errors.BadRequest) as exc:
        C.check_ref("default_tls_container_ref", big)
    assert _message(exc) == (
        "Invalid input for field/attribute default_tls_container_ref. Value: "
        "'data:application/x-pem-file;base64,...'. Value should be a PEM bundle of at most "
        "65536 bytes once decoded")


def test_other_refs_are_not_yet():
    ref = "https://barbican.example:9311/v1/containers/1234"
    with pytest.raises(errors.BadRequest) as exc:
        C.check_ref("default_tls_container_ref", ref)
    assert _message(exc).startswith("Provider 'astara' does not support a requested option: "
                                    f"default_tls_container_ref {ref}: only a data URI")
    assert _message(exc).endswith("(no key manager: not yet)")
    with pytest.raises(errors.BadRequest) as exc:
        C.check_ref("default_tls_container_ref", "x" * 256)
    assert "maximum character requirement of 255" in _message(exc)
    with pytest.raises(errors.BadRequest) as exc:
        C.check_ref("sni_container_refs", "data:text/plain;base64,AAAA")
    assert "starting with 'data:application/x-pem-file;base64,'" in _message(exc)


def test_a_body_echoed_in_an_error_has_its_data_uris_elided(server):
    uri = data_uri(bundle(server))
    body = {"listener": {"loadbalancer_id": LB, "protocol": "TERMINATED_HTTPS",
                         "protocol_port": "eighty", "default_tls_container_ref": uri,
                         "sni_container_refs": [uri]}}
    with pytest.raises(errors.BadRequest) as exc:
        A.parse(A.LISTENER, body, create=True)
    text = _message(exc)
    assert text.startswith("Invalid input for field/attribute listener_. Value: ")
    assert "invalid literal for int() with base 10: 'eighty'" in text
    assert uri[len(C.PREFIX):][:40] not in text and text.count(C.SHOWN_URI) == 2
    with pytest.raises(errors.BadRequest) as exc:
        A.parse(A.LISTENER, {"listener": {"sni_container_refs": uri}}, create=False)
    assert uri[len(C.PREFIX):][:40] not in _message(exc)
    assert "Wrong type. Expected 'list', got 'str'" in _message(exc)


def test_a_listener_body_takes_refs_and_default_tls_options(server):
    uri = data_uri(bundle(server))
    out = A.parse(A.LISTENER, {"listener": {
        "loadbalancer_id": LB, "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
        "default_tls_container_ref": uri, "tls_versions": ["TLSv1.3", "TLSv1.2"],
        "alpn_protocols": ["http/1.1", "h2", "http/1.0"]}}, create=True)
    assert out["default_tls_container_ref"] == uri
    listener_tls.check_options("TERMINATED_HTTPS", out)


@pytest.mark.parametrize(("protocol", "data", "message"), [
    ("TERMINATED_HTTPS", {"tls_versions": ["TLSv1.3"]},
     "Provider 'astara' does not support a requested option: tls_versions other than "
     "['TLSv1.2', 'TLSv1.3'] (not yet)"),
    ("TERMINATED_HTTPS", {"alpn_protocols": ["http/1.1"]},
     "Provider 'astara' does not support a requested option: alpn_protocols other than "
     "['h2', 'http/1.1', 'http/1.0'] (not yet)"),
    ("TERMINATED_HTTPS", {"tls_ciphers": "ECDHE-RSA-AES128-GCM-SHA256"},
     "Provider 'astara' does not support a requested option: tls_ciphers other than "
     "Octavia's default (not yet)"),
    ("TERMINATED_HTTPS", {"client_authentication": "MANDATORY"},
     "Provider 'astara' does not support a requested option: client_authentication "
     "(client certificates: not yet)"),
    ("HTTP", {"tls_versions": ["TLSv1.2", "TLSv1.3"]},
     "Validation failure: tls_versions may only be set on TERMINATED_HTTPS protocol "
     "listeners."),
])
def test_tls_options_other_than_the_defaults(protocol, data, message):
    with pytest.raises(errors.BadRequest) as exc:
        listener_tls.check_options(protocol, data)
    assert _message(exc) == message


def test_client_ca_stays_not_yet():
    with pytest.raises(errors.BadRequest) as exc:
        A.parse(A.LISTENER, {"listener": {"client_ca_tls_container_ref": "x"}}, create=False)
    assert _message(exc).endswith("client_ca_tls_container_ref (not yet)")


def test_many_unmatched_begins_are_refused_in_one_pass():
    # A back-referencing pattern rescanned the rest for each: about a second for this.
    raw = b"-----BEGIN A-----\n" * (C.MAX_BUNDLE // 18)
    assert C.blocks(raw) == []
    with pytest.raises(errors.BadRequest):
        C.parse_bundle(raw)
    many = b"-----BEGIN A-----\nx\n-----END A-----\n" * (C.MAX_BLOCKS + 1)
    with pytest.raises(errors.BadRequest) as exc:
        C.parse_bundle(many)
    assert "more than" in _message(exc)


def test_a_certificate_with_a_damaged_key_is_a_400_not_a_crash(ca, server):
    pem = bundle(server).decode() if isinstance(bundle(server), bytes) else bundle(server)
    cert = pem.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    body = cert.split("\n")
    der = base64.b64decode("".join(body[1:-2]))
    seen = 0
    # flip bytes through the public key's part: each damaged certificate is refused
    for at in range(len(der) // 2, min(len(der), len(der) // 2 + 40)):
        bad = der[:at] + bytes([der[at] ^ 0xFF]) + der[at + 1:]
        text = "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(bad).decode() + \
            "-----END CERTIFICATE-----\n" + pem[len(cert):]
        try:
            C.parse_bundle(text.encode())
        except errors.BadRequest:
            seen += 1
    assert seen > 0


def test_pasted_pem_and_long_refs_are_never_repeated(server):
    pasted = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA\n-----END PRIVATE KEY-----"
    for value in (pasted, "x" * 300, " " + "data:application/x-pem-file;base64,QUJD"):
        with pytest.raises(errors.BadRequest) as exc:
            C.check_ref("default_tls_container_ref", value)
        assert "MC4C" not in _message(exc) and "xxxxxxxxxx" not in _message(exc)
        assert "QUJD" not in _message(exc)
    assert C.redacted({"x": pasted}) == {"x": C.SHOWN_URI}
