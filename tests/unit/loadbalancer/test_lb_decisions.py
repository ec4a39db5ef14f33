"""Pure decisions of the load-balancer service: statuses, the member batch plan, the
VIP's subnet and port, who may do what."""

from __future__ import annotations

import pytest

from astara.loadbalancer_service import errors
from astara.loadbalancer_service.context import RequestContext
from astara.loadbalancer_service.resources.base import next_status
from astara.loadbalancer_service.resources.members import plan_batch
from astara.loadbalancer_service.vip import choose_subnet, from_port


@pytest.mark.parametrize(("current", "after"), [
    ("PENDING_CREATE", "PENDING_CREATE"), ("ACTIVE", "PENDING_UPDATE"),
    ("PENDING_UPDATE", "PENDING_UPDATE"), ("ERROR", "PENDING_UPDATE")])
def test_a_change_records_intent_and_never_refuses(current, after):
    assert next_status(current) == after


def test_batch_plan_matches_by_address_and_port():
    existing = [("m1", "10.0.0.1", 80), ("m2", "10.0.0.2", 80)]
    wanted = [{"address": "10.0.0.1", "protocol_port": 80, "weight": 5},
              {"address": "10.0.0.3", "protocol_port": 80}]
    plan = plan_batch(existing, wanted, additive_only=False)
    assert (plan.update, plan.create, plan.delete) == (
        [("m1", wanted[0])], [wanted[1]], ["m2"])
    assert plan_batch(existing, wanted, additive_only=True).delete == []
    assert plan_batch(existing, [], additive_only=False).delete == ["m1", "m2"]
    with pytest.raises(errors.BadRequest, match="more than once"):
        plan_batch(existing, [wanted[0], wanted[0]], additive_only=False)


def test_vip_subnet_choice():
    v6 = {"id": "s6", "ip_version": 6, "cidr": "fd00::/64"}
    v4 = {"id": "s4", "ip_version": 4, "cidr": "10.0.0.0/24"}
    assert choose_subnet([v6, v4], None) is v4
    assert choose_subnet([v6, v4], "fd00::5") is v6
    assert choose_subnet([v6], None) is v6
    assert choose_subnet([v4], "192.0.2.1") is None
    assert choose_subnet([], None) is None


def test_vip_on_a_users_port():
    me = RequestContext(project_id="p", roles=("member",))
    port = {"id": "port", "project_id": "p", "network_id": "n", "device_id": "",
            "fixed_ips": [{"subnet_id": "s1", "ip_address": "10.0.0.5"},
                          {"subnet_id": "s2", "ip_address": "10.1.0.5"}]}
    assert from_port(port, {}, me).address == "10.0.0.5"
    vip = from_port(port, {"vip_subnet_id": "s2"}, me)
    assert (vip.address, vip.subnet_id, vip.owned) == ("10.1.0.5", "s2", False)
    with pytest.raises(errors.BadRequest, match="not found"):
        from_port({**port, "project_id": "other"}, {}, me)
    with pytest.raises(errors.BadRequest, match="in use"):
        from_port({**port, "device_id": "vm"}, {}, me)
    with pytest.raises(errors.BadRequest, match="no fixed IP"):
        from_port(port, {"vip_address": "10.9.9.9"}, me)


@pytest.mark.parametrize(("roles", "read", "write"), [
    (("admin",), True, True), (("member",), True, True), (("reader",), True, False),
    (("observer",), False, False), ((), False, False)])
def test_roles(roles, read, write):
    ctx = RequestContext(project_id="p", roles=roles)
    assert (ctx.can_read, ctx.can_write) == (read, write)


def test_identity_from_headers():
    assert RequestContext.from_headers({}) is None
    assert RequestContext.from_headers({"x-project-id": "p" * 300}) is None
    ctx = RequestContext.from_headers({"x-project-id": "p", "x-roles": "Member, reader"})
    assert ctx.roles == ("member", "reader")
    with pytest.raises(errors.Forbidden):
        ctx.require_owner("q")
    ctx.require_owner("p")
