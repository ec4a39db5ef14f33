"""TERMINATED_HTTPS on the appliance: the document's certificates (references, PEMs
kept out of reprs, errors and the config view), the bind line, the PEM files (0600
in a 0700 directory, removed with their listener), and the monitors' check timing."""

import asyncio
import json
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from astara.appliance import api as appliance_api
from astara.appliance.render import haproxy
from astara.appliance.render.haproxy_backend import fastinter_ms
from astara.loadbalancer_service.resources import listener_tls
from astara.wire import DocumentError, parse_config
from astara.wire.examples import loadbalancer_document
from astara.wire.loadbalancer_config import HealthMonitor, LoadBalancer

SECRET = "MIIsecretKEYmaterial"
PEM_A = ("-----BEGIN CERTIFICATE-----\nMIIcertA\n-----END CERTIFICATE-----\n"
         f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n")
PEM_B = PEM_A.replace("certA", "certB")
REF_A, REF_B = "astara:pem:sha256:" + "a" * 64, "astara:pem:sha256:" + "b" * 64


def tls_doc(listener_extra=None, certificates=None):
    doc = loadbalancer_document()
    lb = doc["loadbalancer"]
    lb["listeners"].append({"id": "listener-tls", "protocol": "TERMINATED_HTTPS",
                            "protocol_port": 8443, "default_pool_id": "pool-http",
                            "default_tls_container_ref": REF_A,
                            "sni_container_refs": [REF_B], **(listener_extra or {})})
    lb["certificates"] = certificates if certificates is not None else [
        {"ref": REF_A, "pem": PEM_A}, {"ref": REF_B, "pem": PEM_B}]
    return doc


def test_bind_line_serves_the_default_certificate_first_with_octavias_tls_defaults(tmp_path):
    lb = parse_config(tls_doc()).loadbalancer
    text = haproxy.render(lb, tmp_path)
    certs = tmp_path / "certs"
    bind = next(x.strip() for x in text.splitlines() if x.strip().startswith("bind")
                and ":8443" in x)
    assert bind.startswith(f"bind 192.0.2.10:8443 ssl crt {certs / ('a' * 64 + '.pem')} "
                           f"crt {certs / ('b' * 64 + '.pem')} alpn h2,http/1.1,http/1.0 "
                           "ssl-min-ver TLSv1.2 ciphers DHE-RSA-AES256-GCM-SHA384:")
    assert "ciphersuites TLS_AES_256_GCM_SHA384:" in bind
    frontend = text[text.index("frontend listener-tls"):].split("\n\n")[0]
    assert "mode http" in frontend and "default_backend pool-http:http" in frontend
    assert SECRET not in text
    assert haproxy.certificate_files(lb) == {"a" * 64 + ".pem": PEM_A,
                                             "b" * 64 + ".pem": PEM_B}


def test_the_rendered_tls_options_are_the_ones_the_api_takes():
    assert haproxy.TLS_CIPHERS == listener_tls.TLS_CIPHERS
    assert haproxy.ALPN.split(",") == list(listener_tls.ALPN_PROTOCOLS)
    assert min(listener_tls.TLS_VERSIONS) == haproxy.TLS_MIN


@pytest.mark.parametrize(("change", "why"), [
    (lambda d: d["loadbalancer"]["listeners"][-1].update(default_tls_container_ref=None,
                                                          sni_container_refs=[]),
     "TERMINATED_HTTPS needs a certificate"),
    (lambda d: d["loadbalancer"]["listeners"][0].update(default_tls_container_ref=REF_A),
     "only TERMINATED_HTTPS takes certificates"),
    (lambda d: d["loadbalancer"].update(certificates=[{"ref": REF_A, "pem": PEM_A}]),
     "names unknown certificate"),
    (lambda d: d["loadbalancer"]["certificates"].append({"ref": REF_A, "pem": PEM_A}),
     "duplicate certificate"),
    (lambda d: d["loadbalancer"]["certificates"][0].update(pem="not a pem " + SECRET),
     "String should match pattern"),
])
def test_the_document_refuses_inconsistent_certificates_without_quoting_them(change, why):
    doc = tls_doc()
    change(doc)
    with pytest.raises(DocumentError) as exc:
        parse_config(doc)
    text = json.dumps(exc.value.errors) + str(exc.value)
    assert why in text and SECRET not in text
    with pytest.raises(ValidationError) as raw:
        LoadBalancer.model_validate(doc["loadbalancer"])
    assert SECRET not in str(raw.value)


def test_the_pem_is_in_no_repr_and_redacted_in_the_config_view(appliance, monkeypatch):
    config = parse_config(tls_doc())
    assert SECRET not in repr(config) and SECRET not in str(config)
    assert appliance.apply(config).error is None
    served = SimpleNamespace(appliance=appliance)
    monkeypatch.setattr(appliance_api, "_served", lambda request: served)
    body = asyncio.run(appliance_api.get_config(None)).body.decode()
    assert SECRET not in body
    assert json.loads(body)["loadbalancer"]["certificates"] == [
        {"ref": REF_A, "pem": "<redacted>"}, {"ref": REF_B, "pem": "<redacted>"}]


def test_pem_files_are_private_and_go_with_their_listener(appliance):
    certs = appliance.state_dir / "certs"
    assert appliance.apply(parse_config(tls_doc())).error is None
    assert certs.stat().st_mode & 0o777 == 0o700
    files = sorted(p.name for p in certs.iterdir())
    assert files == ["a" * 64 + ".pem", "b" * 64 + ".pem"]
    for path in certs.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600
    assert (certs / files[0]).read_text() == PEM_A
    only_a = tls_doc({"sni_container_refs": []}, [{"ref": REF_A, "pem": PEM_A}])
    assert appliance.apply(parse_config(only_a)).haproxy == "reload"
    assert [p.name for p in certs.iterdir()] == ["a" * 64 + ".pem"]
    assert appliance.apply(parse_config(loadbalancer_document())).haproxy == "reload"
    assert list(certs.iterdir()) == []


def test_a_refused_configuration_takes_its_new_files_with_it(appliance):
    assert appliance.apply(parse_config(loadbalancer_document())).error is None
    appliance.ports.haproxy.refuse = "ssl crt"
    result = appliance.apply(parse_config(tls_doc()))
    assert result.error is not None
    certs = appliance.state_dir / "certs"
    assert not certs.exists() or list(certs.iterdir()) == []


@pytest.mark.parametrize(("delay", "timeout", "fast"), [
    (1, 1, 100),  # bench/loadbalancer.py's monitor: never back-to-back checks
    (3, 2, 1000),
    (10, 1, 9000),
    (5, 9, 100),
])
def test_fastinter_restores_octavias_delay_between_check_starts(delay, timeout, fast):
    hm = HealthMonitor(id="h", type="TCP", delay=delay, timeout=timeout, max_retries=2,
                       max_retries_down=3)
    assert fastinter_ms(hm) == fast


def test_the_check_line_of_the_bench_monitor():
    doc = loadbalancer_document()
    doc["loadbalancer"]["pools"][0]["healthmonitor"].update(delay=1, timeout=1,
                                                            max_retries=1, max_retries_down=1)
    text = haproxy.render(parse_config(doc).loadbalancer, haproxy.SOCKET_DIR)
    assert ("server member-1 192.0.2.21:8080 weight 1 check inter 1s fastinter 100ms "
            "downinter 1s fall 1 rise 1") in text
