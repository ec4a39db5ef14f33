"""May the pass an appliance's boot's end asks for be one status call? Pure.

The compute service's ``create.end`` names the instance whose boot just ended. Its
router's next pass may skip reading the router's model and instance again (one status
call, then the push) only when the last full look saw everything that pass needs: it
built the document, saw this very instance with every port the document was built for,
and the router is a single router being booted. Anything else (a healthy router's boot's
end: a duplicate appliance; a load balancer's; an HA pair's member; a rebuild asked for;
another instance than the one seen) is a full look, as any event is.
"""

from __future__ import annotations

from astara.orchestrator.drivers import router_ha
from astara.orchestrator.drivers.router import HaMember
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.memory import RouterState


def one_call(ref: ResourceRef, st: RouterState, instance_id: str) -> bool:
    """Whether ``ref``'s pass after ``instance_id``'s boot's end may be one status call
    on what ``st`` (its last full look) holds."""
    if ref.kind != "router" or router_ha.split(ref.id)[1]:
        return False
    ctx = st.context
    return (not st.healthy and not st.force_rebuild
            and st.memory.boot_started is not None
            and ctx.desired is not None and ctx.desired_digest is not None
            and ctx.mgmt_address is not None and ctx.instance_id == instance_id
            and not ctx.extra_instances and bool(ctx.wanted_ports)
            and ctx.attached_ports == frozenset(ctx.wanted_ports)
            and ctx.pair_group is None and not isinstance(ctx.kept, HaMember))
