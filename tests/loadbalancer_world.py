"""Load balancers as the load-balancer API's model endpoint gives them (its public
views), their VIP's records on the network API, and a reconciler world over the in-tree
fakes: what the loadbalancer driver's tests build on."""

from __future__ import annotations

from astara.orchestrator.clients.fakes import (
    FakeAppliances,
    FakeCompute,
    FakeLoadBalancers,
    FakeNetwork,
)
from astara.orchestrator.drivers import registry
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.opts import management_defaults, plan_defaults
from astara.orchestrator.reconcile.execute import Executor
from astara.orchestrator.reconcile.observe import Observer
from astara.orchestrator.reconcile.reconciler import Reconciler

LB_ID = "4e0bd7c2-9d3a-4b6e-8f0a-1c2d3e4f5a6b"
PROJECT = "b7c1a2d3e4f5a6b7c8d9e0f1a2b3c4d5"
VIP_PORT = "0f1e2d3c-4b5a-4968-8776-655443322110"
VIP_SUBNET = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"
VIP_NET = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
VIP_MAC = "fa:16:3e:5a:10:01"
REF = ResourceRef("loadbalancer", LB_ID, PROJECT)


def _common(oid: str, name: str = "") -> dict:
    return {"id": oid, "name": name, "provisioning_status": "PENDING_CREATE",
            "operating_status": "OFFLINE", "admin_state_up": True, "project_id": PROJECT,
            "created_at": "2026-12-02T10:00:00", "updated_at": None, "tags": [],
            "tenant_id": PROJECT}


def lb_view(**kw) -> dict:
    return {**_common(LB_ID, "web"), "description": "", "vip_address": "192.0.2.10",
            "vip_port_id": VIP_PORT, "vip_subnet_id": VIP_SUBNET, "vip_network_id": VIP_NET,
            "vip_sg_ids": [], "additional_vips": [], "listeners": [], "pools": [],
            "provider": "amphora", "flavor_id": None, "vip_qos_policy_id": None,
            "availability_zone": None, "vip_vnic_type": "normal", **kw}


def listener(oid: str, protocol: str = "HTTP", port: int = 80, pool: str | None = None,
             **kw) -> dict:
    return {**_common(oid), "description": "", "protocol": protocol, "protocol_port": port,
            "connection_limit": -1, "default_tls_container_ref": None,
            "sni_container_refs": [], "default_pool_id": pool, "l7policies": [],
            "insert_headers": {}, "loadbalancers": [{"id": LB_ID}],
            "timeout_client_data": 50000, "timeout_member_connect": 5000,
            "timeout_member_data": 50000, "timeout_tcp_inspect": 0,
            "client_ca_tls_container_ref": None, "client_authentication": "NONE",
            "client_crl_container_ref": None, "allowed_cidrs": None, "tls_ciphers": None,
            "tls_versions": None, "alpn_protocols": None, "hsts_max_age": None,
            "hsts_include_subdomains": False, "hsts_preload": False, **kw}


def pool(oid: str, protocol: str = "HTTP", algorithm: str = "ROUND_ROBIN",
         members: tuple[str, ...] = (), monitor: str | None = None, **kw) -> dict:
    out = {**_common(oid), "description": "", "protocol": protocol, "lb_algorithm": algorithm,
           "session_persistence": None, "loadbalancers": [{"id": LB_ID}], "listeners": [],
           "members": [{"id": m} for m in members], "tls_container_ref": None,
           "ca_tls_container_ref": None, "crl_container_ref": None, "tls_enabled": False,
           "tls_ciphers": None, "tls_versions": None, "alpn_protocols": None, **kw}
    if monitor is not None:
        out["healthmonitor_id"] = monitor
    return out


def member(oid: str, address: str, port: int = 8080, **kw) -> dict:
    return {**_common(oid), "address": address, "protocol_port": port, "weight": 1,
            "backup": False, "subnet_id": None, "monitor_address": None,
            "monitor_port": None, "vnic_type": "normal", **kw}


def monitor(oid: str, pool_id: str, type_: str = "HTTP", **kw) -> dict:
    http = type_ in ("HTTP", "HTTPS")
    return {**_common(oid), "type": type_, "delay": 5, "timeout": 3, "max_retries": 3,
            "max_retries_down": 3, "http_method": "GET" if http else None,
            "url_path": "/" if http else None, "expected_codes": "200" if http else None,
            "pools": [{"id": pool_id}], "http_version": None, "domain_name": None, **kw}


def web() -> dict[str, list[dict]]:
    """An HTTP listener on 80 to a monitored pool of two members, a TCP one on 443."""
    return {
        "listeners": [listener("l-http", pool="p-http"),
                      listener("l-tcp", "TCP", 443, pool="p-tcp")],
        "pools": [pool("p-http", members=("m-1", "m-2"), monitor="hm-http"),
                  pool("p-tcp", "TCP", "LEAST_CONNECTIONS", members=("m-3",))],
        "members": [member("m-1", "192.0.2.21"), member("m-2", "198.51.100.22"),
                    member("m-3", "192.0.2.21", 8443)],
        "healthmonitors": [monitor("hm-http", "p-http", url_path="/healthz")],
    }


def body(revision: int = 1, lb: dict | None = None, **lists: list[dict]) -> dict:
    parts = {"listeners": [], "pools": [], "members": [], "healthmonitors": [], **lists}
    return {"revision": revision, "loadbalancer": lb or lb_view(), **parts}


def vip_records(address: str = "192.0.2.10", cidr: str = "192.0.2.0/24",
                gateway: str | None = "192.0.2.1") -> dict[tuple[str, str], dict]:
    return {
        ("ports", VIP_PORT): {"id": VIP_PORT, "network_id": VIP_NET, "mac_address": VIP_MAC,
                              "fixed_ips": [{"subnet_id": VIP_SUBNET, "ip_address": address}],
                              "device_owner": "Octavia", "device_id": f"lb-{LB_ID}",
                              "project_id": PROJECT, "status": "DOWN"},
        ("subnets", VIP_SUBNET): {"id": VIP_SUBNET, "network_id": VIP_NET, "cidr": cidr,
                                  "gateway_ip": gateway, "enable_dhcp": True,
                                  "dns_nameservers": [], "host_routes": [],
                                  "ip_version": 6 if ":" in cidr else 4},
        ("networks", VIP_NET): {"id": VIP_NET, "mtu": 1450, "name": "vip-net"},
    }


class LBWorld:
    """One load balancer (and the router driver beside it) over the in-tree fakes."""

    def __init__(self, clock: list[float] | None = None):
        self.network = FakeNetwork()
        self.network.objects.update(vip_records())
        self.compute = FakeCompute()
        self.appliances = FakeAppliances(self.compute)
        self.lbs = FakeLoadBalancers()
        self.lbs.models[LB_ID] = body(**web())
        self.clock = clock if clock is not None else [1000.0]
        drivers = registry.make(("router", "loadbalancer"), self.network, self.lbs)
        self.rec = Reconciler(
            Observer(self.network, self.compute, self.appliances, management_defaults(),
                     drivers),
            Executor(self.network, self.compute, self.appliances, drivers),
            plan_defaults(), clock=lambda: self.clock[0])

    def step(self, full: bool = True):
        for lb_id, port in self.network.mgmt_ports.items():
            self.appliances.mgmt_of[port["fixed_ips"][0]["ip_address"]] = lb_id
        outcome = self.rec.run(REF, full)
        self.clock[0] += max(outcome.after, 0.5)
        return outcome

    def steps(self) -> list[str]:
        return [s.step for s in self.rec.state(REF).steps]

    def converge(self, limit: int = 20) -> None:
        for _ in range(limit):
            self.step()
            if self.steps()[-1] == "Alive":
                return
        raise AssertionError(f"no Alive after {limit} passes: {self.steps()}")

    def mgmt_address(self) -> str:
        return self.network.mgmt_ports[LB_ID]["fixed_ips"][0]["ip_address"]

    def status_of(self, oid: str) -> dict:
        return self.lbs.statuses.get(LB_ID, {}).get(oid, {})
