"""Load-balancer API client (``astara-loadbalancer-api``) as an admin, over httpx.

Two admin-only Astara endpoints beside Octavia's routes: a load balancer's model (one
consistent read with its ``revision``) and the statuses the orchestrator writes back;
plus Octavia's own list and show for the start-up resync and the project a key is
sharded by, and the VIP ports of deleted load balancers, which the orchestrator has
deleted once their appliance is gone. A load balancer is gone only when the service
says so in Octavia's fault format: a 404 from something else (a proxy, a service
without the route) is an error worth a retry, never a reason to remove an appliance.
"""

from __future__ import annotations

import httpx

from astara.orchestrator.clients.base import RemoteError
from astara.orchestrator.clients.http import HttpApi
from astara.orchestrator.keys import ResourceRef

PAGE = 1000


def _octavia_not_found(r: httpx.Response) -> bool:
    if r.status_code != 404:
        return False
    try:
        body = r.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "faultcode" in body and "faultstring" in body


class HttpLoadBalancerAPI(HttpApi):
    def __init__(self, url: str, headers: dict[str, str], timeout: float = 10.0,
                 auth: httpx.Auth | None = None):
        super().__init__("load-balancer API", url.rstrip("/"), headers, timeout, auth)

    def _gone_or_ok(self, r: httpx.Response) -> bool:
        """True when the load balancer is gone; RemoteError for any other failure."""
        if _octavia_not_found(r):
            return True
        self._ok(r)
        return False

    def model(self, lb_id: str) -> dict | None:
        r = self._req("GET", f"/v2/astara/loadbalancers/{lb_id}/model")
        if self._gone_or_ok(r):
            return None
        body = r.json()
        if not isinstance(body, dict) or not isinstance(body.get("loadbalancer"), dict) \
                or not isinstance(body.get("revision"), int):
            raise RemoteError(f"load-balancer API: no model in its answer for {lb_id}")
        return body

    def write_statuses(self, lb_id: str, body: dict) -> None:
        r = self._req("PUT", f"/v2/astara/loadbalancers/{lb_id}/statuses", json=body)
        self._gone_or_ok(r)

    def loadbalancers(self) -> list[ResourceRef]:
        """Every load balancer, page after page (the service caps a page's size)."""
        out: list[ResourceRef] = []
        marker = None
        while True:
            params: dict = {"fields": "id,project_id", "sort": "id:asc", "limit": PAGE}
            if marker is not None:
                params["marker"] = marker
            r = self._req("GET", "/v2/lbaas/loadbalancers", params=params)
            self._ok(r)
            page = r.json()["loadbalancers"]
            out.extend(ResourceRef("loadbalancer", lb["id"], lb.get("project_id") or "")
                       for lb in page)
            if not page:
                return out
            marker = page[-1]["id"]

    def vip_ports(self) -> list[ResourceRef]:
        r = self._req("GET", "/v2/astara/vip_ports")
        self._ok(r)
        found = {p["loadbalancer_id"]: p.get("project_id") or ""
                 for p in r.json()["vip_ports"]}
        return [ResourceRef("loadbalancer", lb_id, project) for lb_id, project in found.items()]

    def release_vip_ports(self, lb_id: str) -> None:
        self._ok(self._req("DELETE", f"/v2/astara/loadbalancers/{lb_id}/vip_port"))

    def project_of(self, lb_id: str) -> str | None:
        r = self._req("GET", f"/v2/lbaas/loadbalancers/{lb_id}",
                      params={"fields": ["id", "project_id"]})
        if self._gone_or_ok(r):
            return None
        return str(r.json()["loadbalancer"].get("project_id") or "")
