"""``PUT /v2/lbaas/loadbalancers/{id}/failover``: ask for a new appliance (admin only).

Level-triggered, not a message: the load balancer's ``failover_count`` goes up by one
(in SQL) with its revision, as any change of intent, and the orchestrator, which reads
the count in the model, replaces an appliance booted for a smaller count
(``orchestrator.drivers.loadbalancer``). A restart of either side loses nothing: the
count is in the row, what an appliance was booted for is in its instance's metadata.
As any change here it is accepted while the load balancer is ``PENDING_*`` (Octavia
answers 409 then).
"""

from __future__ import annotations

from astara.loadbalancer_service import models as m
from astara.loadbalancer_service.resources.base import Op, touch_loadbalancer


def failover(op: Op, lb: m.LoadBalancer) -> None:
    lb.failover_count = m.LoadBalancer.failover_count + 1
    touch_loadbalancer(op, lb)
    op.session.flush()
