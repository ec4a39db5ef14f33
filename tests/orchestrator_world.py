"""One router's model from the captured Neutron answers, and the fake appliance's
management address kept in step with it: what the reconciler tests build on."""

from __future__ import annotations

import json
from pathlib import Path

from astara.orchestrator.clients.fakes import FakeAppliances, FakeNetwork
from astara.orchestrator.drivers.router import RouterModel
from astara.orchestrator.keys import ResourceRef

API = Path(__file__).parent / "data" / "neutron" / "api"
RID = "c61d6b42-85ba-4431-a014-539ade35216c"
REF = ResourceRef("router", RID, "d0000000000000000000000000000000")


def load(name: str) -> dict:
    return json.loads((API / name).read_text())


def router_model(tenant_ports: list[dict] | None = None, router_id: str | None = None,
                 project: str | None = None) -> RouterModel:
    """The captured router, its ports, subnets, networks and floating IPs; its tenant
    instance ports are ``tenant_ports`` (default: the captured instance port). With
    ``router_id`` (and ``project``) it is another router of the same shape."""
    router = load("router_admin.json")["router"]
    ports = load("ports_device_id_router_as_admin.json")["ports"]
    fips = load("floatingips.json")["floatingips"]
    if router_id is not None:
        router = {**router, "id": router_id}
        ports = [{**p, "device_id": router_id} for p in ports]
        fips = [{**f, "router_id": router_id} for f in fips]
    if project is not None:
        router = {**router, "project_id": project}
    return RouterModel(
        router=router, ports=ports,
        subnets={s["id"]: s for s in load("subnets.json")["subnets"]},
        networks={n["id"]: n for n in load("networks_as_admin.json")["networks"]},
        floating_ips=fips,
        tenant_ports=[load("port_vm.json")["port"]] if tenant_ports is None
        else tenant_ports)


def sync_mgmt(network: FakeNetwork, appliances: FakeAppliances) -> None:
    """The management ports the executor created appear in their router's model, and
    the fake appliance answers on their address."""
    for rid, port in network.mgmt_ports.items():
        if rid not in network.models:
            continue
        ports = network.models[rid].ports
        ports[:] = [p for p in ports if p["id"] != port["id"]] + [
            {**port, "device_owner": "network:astara_management", "network_id": "mgmt"}]
        appliances.mgmt_of[port["fixed_ips"][0]["ip_address"]] = rid
