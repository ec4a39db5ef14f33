"""The router driver builds the appliance document from a real Neutron's answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from astara.orchestrator.drivers.router import Management, RouterModel, build

API = Path(__file__).parents[2] / "data" / "neutron" / "api"
MGMT = Management("fa:16:3e:aa:bb:cc", ("fdca::5/64",), "fdca::1", 9697)


def load(name: str) -> dict:
    return json.loads((API / name).read_text())


def real_model(**overrides) -> RouterModel:
    fields = dict(
        router=load("router_admin.json")["router"],
        ports=load("ports_device_id_router_as_admin.json")["ports"],
        subnets={s["id"]: s for s in load("subnets.json")["subnets"]},
        networks={n["id"]: n for n in load("networks_as_admin.json")["networks"]},
        floating_ips=load("floatingips.json")["floatingips"],
        tenant_ports=[load("port_vm.json")["port"]],
    )
    fields.update(overrides)
    return RouterModel(**fields)


def test_document_from_real_neutron():
    doc = build(real_model(), MGMT).model_dump(mode="json")
    assert doc["hostname"] == "ak-c61d6b42-85ba-4431-a014-539ade35216c"
    assert doc["tenant_id"] == "d0000000000000000000000000000000"
    kinds = {n["network_type"]: n for n in doc["networks"]}
    assert kinds["management"]["interface"]["addresses"] == ["fdca::5/64"]
    ext = kinds["external"]
    assert ext["interface"]["mac_address"] == "fa:16:3e:d5:8e:69"
    assert ext["interface"]["addresses"] == ["172.24.4.70/24"]
    assert ext["subnets"][0]["cidr"] == "172.24.4.0/24"
    internal = kinds["internal"]
    assert internal["network_id"] == "44085f07-c533-48f8-b5ea-29fef1efacd0"
    assert internal["interface"] == {"mac_address": "fa:16:3e:16:0d:8b",
                                     "addresses": ["10.0.0.1/24"], "mtu": 1450}
    assert internal["subnets"][0]["dns_nameservers"] == ["192.0.2.54"]
    assert internal["allocations"] == [{"mac_address": "fa:16:3e:37:ac:36",
                                        "ip_addresses": ["10.0.0.153"],
                                        "hostname": "host-10-0-0-153"}]
    assert doc["default_v4_gateway"] == "172.24.4.1"
    assert doc["floating_ips"] == [{"floating_ip": "172.24.4.91", "fixed_ip": "10.0.0.153"}]
    assert doc["orchestrator"] == {"address": "fdca::1", "metadata_port": 9697}


def test_enable_snat_reaches_the_document():
    router = load("router_admin.json")["router"]
    assert router["external_gateway_info"]["enable_snat"] is True
    assert build(real_model(), MGMT).enable_snat is True
    gw = dict(router["external_gateway_info"], enable_snat=False)
    doc = build(real_model(router=dict(router, external_gateway_info=gw)), MGMT)
    assert doc.enable_snat is False and doc.floating_ips


def test_extra_routes_reach_the_document():
    router = dict(load("router_admin.json")["router"],
                  routes=[{"destination": "192.168.50.0/24", "nexthop": "10.0.0.50"}])
    doc = build(real_model(router=router), MGMT).model_dump(mode="json")
    assert doc["routes"] == [{"destination": "192.168.50.0/24", "nexthop": "10.0.0.50"}]


def test_same_model_same_digest_and_changes_show():
    a = build(real_model(), MGMT)
    assert a.digest() == build(real_model(), MGMT).digest()
    moved = load("floatingips.json")["floatingips"]
    moved[0] = dict(moved[0], fixed_ip_address="10.0.0.154")
    assert build(real_model(floating_ips=moved), MGMT).digest() != a.digest()


def test_router_without_gateway_drops_floating_ips():
    ports = [p for p in load("ports_device_id_router_as_admin.json")["ports"]
             if p["device_owner"] == "network:router_interface"]
    doc = build(real_model(ports=ports), MGMT)
    assert [n.network_type for n in doc.networks] == ["management", "internal"]
    assert doc.floating_ips == ()
    assert doc.default_v4_gateway is None


def test_dual_stack_ports_merge_on_one_interface():
    model = real_model()
    v6 = {"id": "sub-v6", "cidr": "fd00:1::/64", "gateway_ip": "fd00:1::1", "enable_dhcp": True,
          "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac", "dns_nameservers": [],
          "host_routes": []}
    v6_port = {"id": "zz-v6-port", "network_id": "44085f07-c533-48f8-b5ea-29fef1efacd0",
               "device_owner": "network:router_interface", "mac_address": "fa:16:3e:00:00:66",
               "fixed_ips": [{"subnet_id": "sub-v6", "ip_address": "fd00:1::1"}]}
    doc = build(real_model(ports=model.ports + [v6_port],
                           subnets={**model.subnets, "sub-v6": v6}), MGMT)
    [internal] = doc.network("internal")
    assert [str(a) for a in internal.interface.addresses] == ["10.0.0.1/24", "fd00:1::1/64"]
    assert len(internal.subnets) == 2


def test_other_routers_floating_ips_are_ignored():
    fips = load("floatingips.json")["floatingips"]
    fips[0] = dict(fips[0], router_id="another-router")
    assert build(real_model(floating_ips=fips), MGMT).floating_ips == ()


def test_invalid_model_is_refused():
    with pytest.raises(ValidationError):
        build(real_model(), Management("not-a-mac", ("fdca::5/64",), "fdca::1", 9697))
