"""What ``astara-ctl loadbalancer show`` adds to a router's view, for one load balancer.

Pure: read from the worker's state of it (the model its last document was built
from, and the statuses last written back). After a worker restart nothing of it is
known until the first full look, so every field may be None.
"""

from __future__ import annotations

from astara.orchestrator.drivers.loadbalancer import KIND, LoadBalancerModel
from astara.orchestrator.reconcile.memory import RouterState

FIELDS = ("vip_address", "vip_port_id", "revision", "listeners", "pools", "members",
          "provisioning_status", "operating_status")


def view(st: RouterState) -> dict:
    """The fields (``FIELDS``) of a load balancer's state; none for another kind."""
    if st.kind != KIND:
        return {}
    out: dict = dict.fromkeys(FIELDS)
    model = st.context.kept
    if isinstance(model, LoadBalancerModel):
        lb = model.loadbalancer
        out.update(vip_address=lb.get("vip_address"), vip_port_id=lb.get("vip_port_id"),
                   revision=model.revision, listeners=len(model.listeners),
                   pools=len(model.pools), members=len(model.members))
    written = st.reported.get("loadbalancer") if isinstance(st.reported, dict) else None
    if written:
        out["provisioning_status"] = written.get("provisioning_status")
        out["operating_status"] = written.get("operating_status")
    if out["operating_status"] is None and st.report is not None \
            and st.report.loadbalancer is not None:
        # Reported by the appliance but not (yet) written back: still what it says.
        out["operating_status"] = st.report.loadbalancer.operating_status
    return out
