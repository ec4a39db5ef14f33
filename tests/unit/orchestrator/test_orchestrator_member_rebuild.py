"""A rebuild of an HA router's member 1 by its key (``<router id>.ha1``, what
``astara-compute-manage host-evacuate`` asks when only that member is on a drained
host): the RPC API resolves it, and only that member is replaced."""

from __future__ import annotations

import threading

from test_orchestrator_ha_pair import MID, World
from test_orchestrator_ha_review import _pair, step
from tests.orchestrator_world import REF, RID

from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.service import Orchestrator


def _orch(known: dict[str, ResourceRef]) -> Orchestrator:
    o = Orchestrator.__new__(Orchestrator)  # only what ref_for reads
    o._lock, o.known, o.drivers = threading.Lock(), dict(known), {}
    o._handoff = threading.Lock()
    return o


def test_a_member_key_resolves_to_its_router_s_member():
    o = _orch({RID: REF})
    assert o.ref_for(MID) == ResourceRef("router", MID, REF.tenant_id)
    assert o.ref_for(RID) == REF
    assert o.ref_for(MID + ".ha1") is None  # no member of a member
    assert _orch({}).ref_for(MID) is None  # an unknown router's
    lb = ResourceRef("loadbalancer", RID, REF.tenant_id)
    assert _orch({RID: lb}).ref_for(MID) is None  # only routers have members


def test_rebuilding_member_1_keeps_member_0():
    w = World()
    _pair(w)
    first, second = w.servers()[RID].id, w.servers()[MID].id
    w.rec.rebuild(ResourceRef("router", MID, REF.tenant_id))
    for _ in range(6):
        step(w)
    assert w.servers()[RID].id == first
    assert w.servers()[MID].id != second


def test_the_rpc_api_takes_a_member_key_for_rebuild():
    from test_orchestrator_loadbalancer_ctl import TOKEN, _Orch, rpc

    orch = _Orch({"id": "x", "kind": "loadbalancer"})
    orch.ref_for = _orch({RID: REF}).ref_for  # the real resolution
    got = rpc(orch, ("PUT", f"/router/rebuild/{MID}"), ("PUT", f"/router/update/{MID}"),
              ("PUT", f"/router/debug/{MID}"))
    assert TOKEN and [r.status_code for r in got] == [200, 404, 404]
    assert orch.submitted == []
    assert orch.rebuilt == [ResourceRef("router", MID, REF.tenant_id)]


def test_a_member_1_rebuild_keeps_its_router_as_a_key():
    """Its router's lease is taken for it: the router must be known, or a later round
    that releases the lease would send the worker no release (fenced for ever)."""
    o = _orch({})
    o.ownership = None
    sent: list[tuple] = []
    o._to_worker = lambda ref, msg: sent.append(msg)  # type: ignore[method-assign]
    o.rebuild(ResourceRef("router", MID, REF.tenant_id))
    assert o.known == {RID: REF} and sent[0][0] == "rebuild"
