"""The burn-in scenario: a user's router, from nothing to packets, and back to nothing.

External network (admin) with an upstream namespace on its bridge; two tenant
networks (one dual-stack); a router with a gateway and both interfaces; two
instances. Then DHCP, SLAAC, east-west, SNAT, floating IP in and out, metadata
through the router, interface removal and router deletion are checked, each a
timed step of the shared framework (``astara.burnin.steps``). Everything made
carries the run id and is removed at the end unless ``keep`` is set: then the
steps that take the topology down (interface removal, router deletion) are
skipped too and ``kept`` lists what stays up.
"""

from __future__ import annotations

import hashlib
import ipaddress
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from astara.burnin import host
from astara.burnin.ha_stage import HaStage
from astara.burnin.loadbalancer import LoadBalancerStage
from astara.burnin.steps import Report, Runner, Step, StepFailed, check_run_id, wait
from astara.common.progress import SILENT, Progress
from astara.compute_service.agent.netns import bridge_name

TENANT_IMAGE = "astara-tenant"


@dataclass(frozen=True)
class Options:
    network_url: str = "http://127.0.0.1:9696/"
    compute_url: str = "http://127.0.0.1:8774/"
    external_cidr: str = "203.0.113.0/24"
    boot_timeout: float = 180.0
    boot_warn: float = 60.0
    keep: bool = False
    bridge_prefix: str = "brq"
    vm_netns_prefix: str = "astara-vm-"
    appliance_netns_prefix: str = "astara-appliance-"
    run_id: str = ""
    loadbalancer_url: str = "http://127.0.0.1:9876/"
    skip_loadbalancer: bool = False  # the orchestrator runs no loadbalancer driver
    ha: bool = False  # run the HA stage (``burnin.ha_stage``)


def connection(o: Options, project: str, admin: bool):
    """A noauth connection acting as ``project`` (with the admin role if ``admin``)."""
    from keystoneauth1 import noauth, session

    headers = {"X-Project-Id": project, "X-User-Id": f"burnin-{project[-6:]}",
               "X-Roles": "admin,member,reader" if admin else "member,reader"}
    sess = session.Session(auth=noauth.NoAuth(), additional_headers=headers)
    return session_connection(o, sess, region_name="RegionOne")


def session_connection(o: Options, session, **extra):
    """An openstacksdk connection through ``session`` to ``o``'s URLs: the one place
    they are assembled, so that the noauth and Keystone runs call the same ones."""
    import openstack

    return openstack.connection.Connection(
        session=session, **extra,
        network_endpoint_override=o.network_url,
        compute_endpoint_override=o.compute_url.rstrip("/") + "/v2.1/",
        load_balancer_endpoint_override=o.loadbalancer_url)


def tenant_cidrs(run_id: str) -> tuple[str, str, str]:
    """The tenant networks of a run: picked by the run id, so that runs side by side
    (or one kept up by ``--keep``) rarely overlap."""
    octet = int(hashlib.sha256(run_id.encode()).hexdigest()[:4], 16) % 200 + 20
    return f"10.{octet}.1.0/24", f"10.{octet}.2.0/24", f"fd00:{octet:x}::/64"


class Scenario:
    def __init__(self, o: Options, echo: Callable[[str], None] | None = print,
                 admin=None, user=None, progress: Progress = SILENT):
        self.o = o
        self.run_id = check_run_id(o.run_id) if o.run_id else uuid.uuid4().hex[:6]
        self.prefix = f"burnin-{self.run_id}"
        self.report = Report(self.run_id)
        self.r = Runner(self.report, echo, keep=o.keep, progress=progress)
        # openstacksdk connections, one per role (tests pass their own)
        self.admin = admin or connection(o, f"{self.prefix}-admin", admin=True)
        self.user = user or connection(o, f"{self.prefix}-user", admin=False)
        self.upstream: host.Upstream | None = None
        self.made: dict = {}
        self.nets = tenant_cidrs(self.run_id)
        self.lb = LoadBalancerStage(self)
        self.ha = HaStage(self)

    # -- the scenario ------------------------------------------------------------
    def run(self, steps: list[Step] | None = None) -> Report:
        """Run ``steps`` (default: the whole scenario), then clean up (unless ``keep``)."""
        try:
            self.r.run(self.steps() if steps is None else steps)
        finally:
            if not self.o.keep:
                self._cleanup()
        return self.report

    def steps(self) -> list[Step]:
        warn = self.o.boot_warn
        return [
            Step("requests without identity are refused", self.identity_refused),
            Step("external network", self.external),
            Step("upstream namespace on the external bridge", self.upstream_up),
            Step("tenant networks (one dual-stack)", self.tenant_networks),
            Step("router with gateway and interfaces", self.router),
            Step("router ACTIVE (appliance booted and configured)", self.router_active,
                 warn),
            Step("instances ACTIVE", self.instances, warn),
            Step("DHCPv4 lease from the appliance", self.dhcp),
            Step("IPv6 address by SLAAC from the appliance's RA", self.slaac),
            Step("east-west between the tenant networks", self.east_west),
            Step("SNAT: upstream sees the router's external address", self.snat),
            Step("floating IP in: upstream reaches the instance", self.floating_in),
            Step("floating IP out: replies and new flows leave from it", self.floating_out),
            Step("metadata through the router", self.metadata),
            *self.ha.steps(),
            *self.lb.steps(),
            # --keep leaves the topology up: these take it down, so they are skipped
            Step("interface removal cuts the network off", self.interface_removal,
                 teardown=True),
            Step("router deletion leaves nothing behind", self.router_deletion, warn,
                 teardown=True),
        ]

    def kept(self) -> dict[str, str]:
        """What a ``keep`` run left up, by role (ids, the upstream namespace)."""
        shown = {k: v for k, v in self.made.items() if isinstance(v, str)}
        if self.upstream is not None:
            shown["upstream_namespace"] = self.upstream.ns
        return shown

    def identity_refused(self) -> None:
        for url in (self.o.network_url.rstrip("/") + "/v2.0/networks",
                    self.o.compute_url.rstrip("/") + "/v2.1/servers"):
            code = httpx.get(url, timeout=10).status_code
            if code != 401:
                raise StepFailed(f"{url} answered {code} without identity")

    def external(self) -> None:
        cidr = ipaddress.ip_network(self.o.external_cidr)
        net = self.admin.network.create_network(name=f"{self.prefix}-public",
                                                is_router_external=True)
        self.made["ext_net"] = net.id
        self.admin.network.create_subnet(
            network_id=net.id, cidr=str(cidr), ip_version=4, is_dhcp_enabled=False,
            gateway_ip=str(cidr.network_address + 1),
            allocation_pools=[{"start": str(cidr.network_address + 10),
                               "end": str(cidr.network_address + 200)}])

    def upstream_up(self) -> None:
        cidr = ipaddress.ip_network(self.o.external_cidr)
        self.upstream = host.Upstream(self.run_id, bridge_name(self.o.bridge_prefix,
                                                                    self.made["ext_net"]),
                                      str(cidr), str(cidr.network_address + 1))
        self.upstream.open(watch_parent=not self.o.keep)  # kept: it outlives the run

    def tenant_networks(self) -> None:
        u = self.user.network
        n1 = u.create_network(name=f"{self.prefix}-net1")
        n2 = u.create_network(name=f"{self.prefix}-net2")
        self.made.update(net1=n1.id, net2=n2.id)
        self.made["sub1"] = u.create_subnet(network_id=n1.id, cidr=self.nets[0],
                                            ip_version=4).id
        self.made["sub2"] = u.create_subnet(network_id=n2.id, cidr=self.nets[1],
                                            ip_version=4).id
        self.made["sub2v6"] = u.create_subnet(network_id=n2.id, cidr=self.nets[2],
                                              ip_version=6, ipv6_ra_mode="slaac",
                                              ipv6_address_mode="slaac").id

    def router(self) -> None:
        u = self.user.network
        router = u.create_router(name=f"{self.prefix}-router",
                                 external_gateway_info={"network_id": self.made["ext_net"]})
        self.made["router"] = router.id
        for sub in ("sub1", "sub2", "sub2v6"):
            u.add_interface_to_router(router, subnet_id=self.made[sub])
        gw = router.external_gateway_info["external_fixed_ips"][0]["ip_address"]
        self.made["router_ext_ip"] = gw

    def router_active(self) -> None:
        wait(lambda: self.user.network.get_router(self.made["router"]).status == "ACTIVE",
             self.o.boot_timeout, "router ACTIVE")

    def instances(self) -> None:
        self.boot({"vm1": "net1", "vm2": "net2"})

    def boot(self, nets: dict[str, str]) -> None:
        """Tenant instances (name -> the network they are on), all ACTIVE: their ids,
        ports and addresses in ``made``."""
        c = self.user.compute
        self.create_servers(nets)
        for name in nets:
            wait(lambda n=name: c.get_server(self.made[n]).status == "ACTIVE",
                 self.o.boot_timeout, f"{name} ACTIVE")
            port = next(iter(self.user.network.ports(device_id=self.made[name])))
            self.made[f"{name}_port"] = port.id
            self.made[f"{name}_ips"] = [f["ip_address"] for f in port.fixed_ips]

    def create_servers(self, nets: dict[str, str]) -> None:
        """Ask for tenant instances (name -> the network they are on): ids in ``made``."""
        c = self.user.compute
        flavor = next(f for f in c.flavors() if f.name == "m1.tiny")
        image = next(i for i in c.images() if i.name == TENANT_IMAGE)
        for name, net in nets.items():
            server = c.create_server(name=f"{self.prefix}-{name}", image_id=image.id,
                                     flavor_id=flavor.id, networks=[{"uuid": self.made[net]}])
            self.made[name] = server.id

    def ns(self, vm: str) -> str:
        return self.o.vm_netns_prefix + self.made[vm]

    def _has_address(self, vm: str, address: str) -> bool:
        return address in host.in_ns(self.ns(vm), "ip", "-o", "addr").stdout

    def dhcp(self) -> None:
        v4 = [a for a in self.made["vm1_ips"] if ":" not in a][0]
        wait(lambda: self._has_address("vm1", v4), 60, f"vm1 leases {v4}")

    def slaac(self) -> None:
        v6 = [a for a in self.made["vm2_ips"] if ":" in a][0]
        wait(lambda: self._has_address("vm2", v6), 60, f"vm2 configures {v6}")

    def _ping(self, vm: str, address: str) -> bool:
        return host.in_ns(self.ns(vm), "ping", "-c", "1", "-W", "1", address,
                          check=False).returncode == 0

    def east_west(self) -> None:
        v4 = [a for a in self.made["vm2_ips"] if ":" not in a][0]
        wait(lambda: self._ping("vm1", v4), 30, f"vm1 pings vm2 at {v4}")

    def curl(self, ns: str, url: str) -> str:
        return host.in_ns(ns, "curl", "-s", "-m", "3", url, check=False).stdout.strip()

    def snat(self) -> None:
        assert self.upstream is not None
        url = f"http://{self.upstream.address}:{self.upstream.port}/"
        seen = wait(lambda: self.curl(self.ns("vm1"), url), 30, "vm1 reaches upstream")
        if seen != self.made["router_ext_ip"]:
            raise StepFailed(f"upstream saw {seen}, not the router's {self.made['router_ext_ip']}")

    def floating_in(self) -> None:
        assert self.upstream is not None
        fip = self.user.network.create_ip(floating_network_id=self.made["ext_net"],
                                          port_id=self.made["vm1_port"])
        self.made.update(fip=fip.id, fip_ip=fip.floating_ip_address)
        name = f"{self.prefix}-vm1"
        wait(lambda: name in self.curl(self.upstream.ns, f"http://{fip.floating_ip_address}/"),
             60, f"upstream reaches vm1 at {fip.floating_ip_address}")

    def floating_out(self) -> None:
        assert self.upstream is not None
        url = f"http://{self.upstream.address}:{self.upstream.port}/"
        wait(lambda: self.curl(self.ns("vm1"), url) == self.made["fip_ip"], 30,
             "upstream sees vm1 as its floating IP")

    def metadata(self) -> None:
        body = wait(lambda: self.curl(
            self.ns("vm1"), "http://169.254.169.254/openstack/latest/meta_data.json"), 30,
            "metadata answers")
        if self.made["vm1"] not in body:
            raise StepFailed(f"metadata did not name vm1: {body[:200]}")

    def interface_removal(self) -> None:
        u = self.user.network
        for sub in ("sub2", "sub2v6"):
            u.remove_interface_from_router(self.made["router"], subnet_id=self.made[sub])
        v4 = [a for a in self.made["vm2_ips"] if ":" not in a][0]
        wait(lambda: not self._ping("vm1", v4), 60, "vm2 unreachable from vm1")

    def router_deletion(self) -> None:
        u, c = self.user.network, self.user.compute
        u.delete_ip(self.made.pop("fip"))
        for vm in ("vm1", "vm2"):
            c.delete_server(self.made[vm])
        for vm in ("vm1", "vm2"):
            wait(lambda v=vm: c.find_server(self.made[v]) is None, 60, f"{vm} deleted")
            self.made.pop(vm)
        router_id = self.made["router"]
        u.remove_interface_from_router(router_id, subnet_id=self.made["sub1"])
        u.update_router(router_id, external_gateway_info={})
        u.delete_router(router_id)
        self.made.pop("router")
        appliance = f"ak-{router_id}"
        wait(lambda: not list(self.admin.compute.servers(all_projects=True, name=appliance)),
             self.o.boot_timeout, "appliance instance gone")
        wait(lambda: not any(n.startswith(self.o.appliance_netns_prefix)
                             and router_id in n for n in _netns()), 30, "namespace gone")

    # -- cleanup -----------------------------------------------------------------
    def _cleanup(self) -> None:
        # The host's part first: quick and asking no API, it is done even when the run
        # is killed while the cloud's resources go (a second Ctrl-C, or the parent's
        # kill that follows the first), which would leave its namespace and server.
        if self.upstream is not None:
            _quiet(self.upstream.close)
        u = self.user  # its proxies connect on first use: only when there is work
        self.lb.cleanup(_quiet)  # its VIP port and members are on net1
        for vm in ("vm1", "vm2"):
            if vm in self.made:
                _quiet(lambda v=vm: u.compute.delete_server(self.made[v]))
        if "fip" in self.made:
            _quiet(lambda: u.network.delete_ip(self.made["fip"]))
        if "router" in self.made:
            rid = self.made["router"]
            for sub in ("sub1", "sub2", "sub2v6"):
                _quiet(lambda s=sub: u.network.remove_interface_from_router(
                    rid, subnet_id=self.made[s]))
            _quiet(lambda: u.network.delete_router(rid))
        for vm in ("vm1", "vm2"):
            if vm in self.made:
                _quiet(lambda v=vm: wait(lambda: u.compute.find_server(self.made[v]) is None,
                                         60, "deleted"))
        for net in ("net1", "net2"):
            if net in self.made:
                _quiet(lambda n=net: wait(lambda: u.network.delete_network(self.made[n])
                                          is None, 60, "network deleted"))
        if self.upstream is not None:  # the ports left its bridge (if it made it)
            _quiet(self.upstream.drop_bridge)
        if "ext_net" in self.made:
            _quiet(lambda: wait(lambda: self.admin.network.delete_network(
                self.made["ext_net"]) is None, 60, "external network deleted"))


def _netns() -> list[str]:
    return [line.split()[0] for line in host.sh("ip", "netns", "list").stdout.splitlines()
            if line.strip()]


def _quiet(fn) -> None:
    try:
        fn()
    except Exception as exc:  # cleanup goes on; the operator is told what stayed
        print(f"cleanup: {exc}", file=sys.stderr)
