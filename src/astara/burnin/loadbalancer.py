"""The burn-in's load-balancer stage, on the scenario's first tenant network.

Two member instances beside the scenario's ``vm1`` (each answers HTTP with its own
name), a load balancer on that subnet with an HTTP listener, a round-robin pool of
both and an HTTP monitor, all through openstacksdk's ``load_balancer`` proxy. From
``vm1`` the VIP answers both names in turn; a member's instance stopped is marked
``ERROR`` and only the other answers; started again, both answer. A ``cascade``
delete then leaves no load balancer, child, VIP port, appliance instance, namespace
or haproxy process. ``--skip-loadbalancer`` replaces the stage with one skipped step
(for an orchestrator without the ``loadbalancer`` driver).
"""

from __future__ import annotations

import collections
import contextlib
import os
from typing import TYPE_CHECKING

from astara.burnin import host
from astara.burnin.steps import Step, StepFailed, wait

if TYPE_CHECKING:
    from astara.burnin.scenario import Scenario

MEMBERS = ("web1", "web2")
ROUNDS = 3  # answers per member in the round-robin check
# What the step says when the orchestrator does not serve load balancers.
DRIVER_HINT = ("is the orchestrator's loadbalancer driver enabled ([DEFAULT] enabled_drivers "
               "= router,loadbalancer) and astara-loadbalancer-api up at {url}? "
               "Else run with --skip-loadbalancer")
SKIPPED = "(--skip-loadbalancer: the orchestrator has no loadbalancer driver)"


def round_robin(answers: list[str | None], names: tuple[str, ...]) -> str | None:
    """Why ``answers`` (in order) are not a round robin over ``names``, or None: each
    answered as often as the others and never twice in a row."""
    if any(a not in names for a in answers):
        return f"unexpected answers in {answers}"
    counts = collections.Counter(answers)
    if len(set(counts[n] for n in names)) != 1:
        return f"uneven answers {dict(counts)} in {answers}"
    if len(names) > 1 and any(a == b for a, b in zip(answers, answers[1:], strict=False)):
        return f"not in turn: {answers}"
    return None


def _haproxy_pids(ns: str) -> set[int]:
    out = host.sh("ip", "netns", "pids", ns, check=False).stdout.split()
    pids = set()
    for pid in out:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/comm") as f:
            if f.read().strip() == "haproxy":
                pids.add(int(pid))
    return pids


class LoadBalancerStage:
    def __init__(self, s: Scenario):
        self.s = s

    @property
    def lbs(self):
        return self.s.user.load_balancer

    def steps(self) -> list[Step]:
        if self.s.o.skip_loadbalancer:
            return [Step("load-balancer stage", lambda: None, skip=SKIPPED)]
        warn = self.s.o.boot_warn
        return [
            Step("load balancer: two member instances ACTIVE", self.members, warn),
            Step("load balancer with an HTTP listener, a round-robin pool of both and a "
                 "monitor ACTIVE", self.create, warn),
            Step("the VIP answers round robin from an instance on the network",
                 self.round_robin),
            Step("a member stopped: ERROR, only the other answers", self.member_down),
            Step("the member started again: ONLINE, both answer", self.member_back),
            Step("cascade delete leaves no load balancer, VIP port, appliance or haproxy",
                 self.delete, warn, teardown=True),
        ]

    # -- the steps ---------------------------------------------------------------
    def members(self) -> None:
        s = self.s
        s.boot({name: "net1" for name in MEMBERS})
        for name in MEMBERS:
            s.made[f"{name}_ip"] = next(a for a in s.made[f"{name}_ips"] if ":" not in a)
        # Each answers directly before it is a member: a failure later is the VIP's.
        for name in MEMBERS:
            wait(lambda n=name: self._get(s.made[f"{n}_ip"]) == self._name(n), 60,
                 f"{name} answers vm1 directly")

    def create(self) -> str:
        s = self.s
        try:
            lb = self.lbs.create_load_balancer(name=f"{s.prefix}-lb",
                                               vip_subnet_id=s.made["sub1"])
        except Exception as exc:
            raise StepFailed(f"{exc} ({self._hint()})") from exc
        s.made.update(lb=lb.id, lb_vip=lb.vip_address, lb_vip_port=lb.vip_port_id)
        listener = self.lbs.create_listener(loadbalancer_id=lb.id, protocol="HTTP",
                                            protocol_port=80, name=f"{s.prefix}-http")
        pool = self.lbs.create_pool(listener_id=listener.id, protocol="HTTP",
                                    lb_algorithm="ROUND_ROBIN", name=f"{s.prefix}-pool")
        s.made.update(lb_listener=listener.id, lb_pool=pool.id)
        for name in MEMBERS:
            m = self.lbs.create_member(pool, address=s.made[f"{name}_ip"], protocol_port=80,
                                       name=f"{s.prefix}-{name}")
            s.made[f"{name}_member"] = m.id
        hm = self.lbs.create_health_monitor(pool_id=pool.id, type="HTTP", delay=1, timeout=1,
                                            max_retries=1, max_retries_down=1, url_path="/")
        s.made["lb_monitor"] = hm.id
        wait(lambda: self._lb_status() == "ACTIVE", s.o.boot_timeout,
             f"load balancer ACTIVE ({self._hint()})")
        return f"VIP {lb.vip_address}"

    def round_robin(self) -> str:
        vip = self.s.made["lb_vip"]
        names = tuple(self._name(n) for n in MEMBERS)
        seen: set[str | None] = set()
        wait(lambda: seen.add(self._get(vip)) or set(names) <= seen, 30,
             "both members through the VIP")
        answers = [self._get(vip) for _ in range(ROUNDS * len(names))]
        if (why := round_robin(answers, names)) is not None:
            raise StepFailed(why)
        return " ".join(a or "-" for a in answers)

    def member_down(self) -> None:
        s = self.s
        s.user.compute.stop_server(s.made["web2"])
        wait(lambda: self._member_status("web2") == "ERROR", 60, "web2's member ERROR")
        answers = [self._get(s.made["lb_vip"]) for _ in range(2 * ROUNDS)]
        if set(answers) != {self._name("web1")}:
            raise StepFailed(f"with web2 stopped the VIP answered {answers}")
        if (status := self._lb_operating()) != "DEGRADED":
            raise StepFailed(f"the load balancer is {status}, not DEGRADED")

    def member_back(self) -> None:
        s, c = self.s, self.s.user.compute
        c.start_server(s.made["web2"])
        wait(lambda: c.get_server(s.made["web2"]).status == "ACTIVE", s.o.boot_timeout,
             "web2 ACTIVE again")
        wait(lambda: self._member_status("web2") == "ONLINE", 60, "web2's member ONLINE")
        names = {self._name(n) for n in MEMBERS}
        seen: set[str | None] = set()
        wait(lambda: seen.add(self._get(s.made["lb_vip"])) or names <= seen, 30,
             "both members through the VIP again")
        wait(lambda: self._lb_operating() == "ONLINE", 30, "the load balancer ONLINE")

    def delete(self) -> None:
        s = self.s
        lb_id = s.made["lb"]
        appliance = f"ak-lb-{lb_id}"
        servers = list(s.admin.compute.servers(all_projects=True, name=appliance))
        if len(servers) != 1:
            raise StepFailed(f"{len(servers)} instances named {appliance}, not one")
        ns = s.o.appliance_netns_prefix + servers[0].id
        haproxy = _haproxy_pids(ns)
        if not haproxy:
            raise StepFailed(f"no haproxy in {ns} before the delete")
        self.lbs.delete_load_balancer(lb_id, cascade=True)
        s.made.pop("lb")
        wait(lambda: self.lbs.find_load_balancer(lb_id) is None, 30, "load balancer gone")
        for kind, key in (("listener", "lb_listener"), ("pool", "lb_pool"),
                          ("health_monitor", "lb_monitor")):
            if getattr(self.lbs, f"find_{kind}")(s.made[key]) is not None:
                raise StepFailed(f"the {kind} {s.made[key]} outlived its load balancer")
        wait(lambda: not list(s.admin.compute.servers(all_projects=True, name=appliance)),
             s.o.boot_timeout, "its appliance instance gone")
        wait(lambda: not os.path.exists(f"/run/netns/{ns}"), 30, "its namespace gone")
        wait(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in haproxy), 30,
             "its haproxy gone")
        # The VIP port (and its address) is kept until the appliance is gone, then the
        # orchestrator releases it (docs/loadbalancer.md, "The VIP port").
        wait(lambda: s.user.network.find_port(s.made["lb_vip_port"]) is None, 60,
             f"the VIP port {s.made['lb_vip_port']} released after its appliance")
        self._delete_members()

    # -- helpers -----------------------------------------------------------------
    def _name(self, member: str) -> str:
        return f"{self.s.prefix}-{member}"

    def _get(self, address: str) -> str | None:
        """One HTTP request from vm1 (on the VIP's network): the answer, or None."""
        answer = self.s.curl(self.s.ns("vm1"), f"http://{address}/")
        return answer or None

    def _lb_status(self) -> str:
        return self.lbs.get_load_balancer(self.s.made["lb"]).provisioning_status

    def _lb_operating(self) -> str:
        return self.lbs.get_load_balancer(self.s.made["lb"]).operating_status

    def _member_status(self, name: str) -> str:
        return self.lbs.get_member(self.s.made[f"{name}_member"],
                                   self.s.made["lb_pool"]).operating_status

    def _hint(self) -> str:
        return DRIVER_HINT.format(url=self.s.o.loadbalancer_url)

    def _delete_members(self) -> None:
        c = self.s.user.compute
        for name in MEMBERS:
            if name in self.s.made:
                c.delete_server(self.s.made[name])
        for name in MEMBERS:
            if name in self.s.made:
                wait(lambda n=name: c.find_server(self.s.made[n]) is None, 60,
                     f"{name} deleted")
                self.s.made.pop(name)

    def cleanup(self, quiet) -> None:
        """What a failed (not kept) run left of the stage: the load balancer, the members."""
        if "lb" in self.s.made:
            quiet(lambda: self.lbs.delete_load_balancer(self.s.made["lb"], cascade=True))
        quiet(self._delete_members)
