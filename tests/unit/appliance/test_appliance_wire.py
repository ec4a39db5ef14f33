"""The appliance config/status contract: validation rules and the exported schema."""

import json

import pytest

from astara.wire import DocumentError, parse_config
from astara.wire.examples import router_document
from astara.wire.schema import SCHEMA_DIR, render, schemas


def test_example_document_is_valid_and_digest_is_stable():
    a = parse_config(router_document(3))
    b = parse_config(json.loads(json.dumps(router_document(3))))
    assert a == b and a.digest() == b.digest()
    assert a.digest() != parse_config(router_document(4)).digest()


def _with_network_change(index, **changes):
    doc = router_document()
    doc["networks"][index].update(changes)
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (router_document(version="2"), "unsupported config version '2'"),
        ({"hostname": "x"}, "unsupported config version None"),
        ([], "must be a JSON object"),
        (router_document(hostname="bad name!"), "invalid config document"),
        (router_document(surprise=1), "invalid config document"),
        (router_document(floating_ips=[{"floating_ip": "203.0.113.9", "fixed_ip": "x"}]),
         "invalid config document"),
    ],
)
def test_rejected_documents(doc, message):
    with pytest.raises(DocumentError, match=message):
        parse_config(doc)


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        (_with_network_change(1, network_type="management"), "exactly one management"),
        (_with_network_change(3, network_type="external"), "at most one external"),
        (_with_network_change(2, network_id="mgmt"), "duplicate network_id"),
        (_with_network_change(2, interface={"mac_address": "fa:16:3e:00:00:01"}),
         "duplicate interface mac_address"),
        (_with_network_change(2, allocations=[
            {"mac_address": "fa:16:3e:aa:00:01", "ip_addresses": ["10.9.9.9"]}]),
         "in no subnet"),
        (_with_network_change(3, subnets=[{"cidr": "198.51.100.0/24",
                                           "gateway_ip": "192.0.2.1"}]), "outside"),
        (_with_network_change(3, subnets=[{"cidr": "198.51.100.0/24",
                                           "ipv6_ra_mode": "slaac"}]), "IPv6 modes"),
        (router_document(floating_ips=[
            {"floating_ip": "203.0.113.9", "fixed_ip": "192.0.2.5"},
            {"floating_ip": "203.0.113.9", "fixed_ip": "192.0.2.6"}]), "duplicate floating_ip"),
        (router_document(floating_ips=[
            {"floating_ip": "203.0.113.9", "fixed_ip": "192.0.2.5"},
            {"floating_ip": "203.0.113.8", "fixed_ip": "192.0.2.5"}]), "duplicate fixed_ip"),
    ],
)
def test_semantic_rules_explain_themselves(doc, needle):
    with pytest.raises(DocumentError) as info:
        parse_config(doc)
    assert any(needle in e["msg"] for e in info.value.errors), info.value.errors


def test_mac_addresses_are_normalised():
    doc = _with_network_change(2, interface={"mac_address": "FA:16:3E:00:00:AA"})
    assert parse_config(doc).networks[2].interface.mac_address == "fa:16:3e:00:00:aa"


def test_exported_schemas_match_the_models():
    for name, schema in schemas().items():
        assert (SCHEMA_DIR / name).read_text() == render(schema), (
            f"{name} is stale: run python -m astara.wire.schema"
        )


def test_schema_requires_version_hostname_and_networks():
    schema = schemas()["appliance_config.v1.json"]
    assert {"hostname", "tenant_id", "networks", "orchestrator"} <= set(schema["required"])
    assert schema["properties"]["version"]["const"] == "1"
