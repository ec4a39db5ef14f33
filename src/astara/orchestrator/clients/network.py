"""Network API client (Neutron v2.0) as an admin, over httpx.

Against Astara's network service a router's model is one read
(``/routers/{id}/astara_model``); against a real Neutron it falls back to the
list calls that gather the same data (the router, its ports by ``device_id``, their
subnets and networks by id lists, its floating IPs by ``router_id``, the tenant ports
of its internal networks). The one read carries a fingerprint of its answer, so an
unchanged router's document is not built again. Router and port status are written as
on our API; a real Neutron, where they are read-only (400), is asked once, then the
router's status lives in the orchestrator, shown on Neutron as a tag when it has the tag
extension (``status_tags``), and its ports' is left to Neutron.
"""

from __future__ import annotations

import hashlib
import logging

import httpx

from astara.common.device_owners import GATEWAY, HA_INTERFACE, INTERFACE, MGMT_OWNER
from astara.orchestrator.addresses import same_ip
from astara.orchestrator.clients import router_model, status_tags
from astara.orchestrator.clients.base import RemoteError
from astara.orchestrator.clients.http import HttpApi
from astara.orchestrator.clients.router_model import RouterModel
from astara.orchestrator.keys import ResourceRef

LOG = logging.getLogger(__name__)

# Ids per list call: each is ~45 bytes of the request line (uWSGI's default buffer is
# 4 KiB), and a page of answers is followed (Neutron's ``pagination_max_limit``) up to
# MAX_PAGES before the answer is taken as broken.
IDS_PER_CALL = 50
MAX_PAGES = 1000


def chunks(ids: list[str], size: int = IDS_PER_CALL) -> list[list[str]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def next_page(body: dict, key: str) -> dict[str, str] | None:
    """The ``limit`` and ``marker`` of Neutron's ``<key>_links`` next page, if any."""
    links = body.get(f"{key}_links") or []
    href = next((x.get("href") for x in links if isinstance(x, dict)
                 and x.get("rel") == "next"), None)
    if not href:
        return None
    q = httpx.URL(href).params
    marker = q.get("marker")
    return {"marker": marker, **({"limit": q["limit"]} if "limit" in q else {})} \
        if marker else None


def fingerprint(body: bytes) -> str:
    """Of one answer's bytes: the same bytes, the same model (and so the same document)."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def _not_found(r: httpx.Response, type_: str = "RouterNotFound") -> bool:
    """Our API's answer for a missing resource (a route Neutron lacks answers otherwise)."""
    try:
        body = r.json()
    except ValueError:
        return False
    err = body.get("NeutronError") if isinstance(body, dict) else None
    return isinstance(err, dict) and err.get("type") == type_


def _read_only_status(text: str) -> bool:
    """Neutron's refusal of a PUT naming ``status`` ("Cannot update read-only attribute
    status"): any other 400 is no reason to stop asking."""
    return "status" in text and ("read-only" in text or "not allowed" in text)


class HttpNetworkAPI(HttpApi):
    def __init__(self, url: str, management_network_id: str, headers: dict[str, str],
                 timeout: float = 10.0, auth: httpx.Auth | None = None):
        super().__init__("network API", url.rstrip("/") + "/v2.0", headers, timeout, auth)
        self._mgmt_net = management_network_id
        self._has_model_route: bool | None = None
        self._has_routers_route: bool | None = None
        self._port_status_writable = True
        # Where a router's status goes: "status" (our API), "tags" (a Neutron with the tag
        # extension: ``status_tags``) or "none" (a Neutron without it).
        self._router_status_to = "status"
        self._tag_failure_logged = False
        self._planted_seen: set[str] = set()  # warned of once
        self._refused_seen: set[str] = set()  # logged once

    def _get(self, path: str, **params) -> dict:
        r = self._req("GET", path, params=params)
        self._ok(r)
        return r.json()

    def _list(self, path: str, key: str, **params) -> list[dict]:
        """Every item of a list call, following Neutron's next-page links."""
        out: list[dict] = []
        for _ in range(MAX_PAGES):
            body = self._get(path, **params)
            out.extend(body[key])
            page = next_page(body, key)
            if page is None:
                return out
            params = {**params, **page}
        raise RemoteError(f"network API: {path} has more than {MAX_PAGES} pages")

    def _by_ids(self, path: str, key: str, field: str, ids: list[str]) -> list[dict]:
        """The items whose ``field`` is one of ``ids``, asked IDS_PER_CALL at a time."""
        return [x for part in chunks(ids) for x in self._list(path, key, **{field: part})]

    def router_project(self, router_id: str) -> str | None:
        """The router's project from its own record (one small read), None if gone."""
        r = self._req("GET", f"/routers/{router_id}", params={"fields": "project_id"})
        if r.status_code == 404:
            return None
        self._ok(r)
        return str(r.json()["router"].get("project_id") or "")

    def show(self, collection: str, id_: str) -> dict | None:
        """One object as an admin (its singular key's value), None if it is gone."""
        r = self._req("GET", f"/{collection}/{id_}")
        if r.status_code == 404:
            return None
        self._ok(r)
        body = r.json()
        value = body.get(collection[:-1]) if isinstance(body, dict) else None
        if not isinstance(value, dict):
            raise RemoteError(f"network API: no {collection[:-1]} in its answer")
        return value

    def list(self, collection: str, **filters: str | list[str]) -> list[dict]:
        """The objects of a collection as an admin; [] if the API has no such collection
        (Neutron answers 404 for a resource of an extension it does not load)."""
        r = self._req("GET", f"/{collection}", params=filters)
        if r.status_code == 404:
            return []
        self._ok(r)
        body = r.json()
        items = body.get(collection) if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise RemoteError(f"network API: no {collection} in its answer")
        return [x for x in items if isinstance(x, dict)]

    def router_model(self, router_id: str) -> RouterModel | None:
        if self._has_model_route is not False:
            r = self._req("GET", f"/routers/{router_id}/astara_model")
            if r.status_code == 200:
                self._has_model_route = True
                b = r.json()
                return RouterModel(b["router"], b["ports"], {s["id"]: s for s in b["subnets"]},
                                   {n["id"]: n for n in b["networks"]}, b["floatingips"],
                                   b["tenant_ports"], fingerprint=fingerprint(r.content))
            if r.status_code == 404 and _not_found(r):
                self._has_model_route = True  # the route is there; the router is not
                return None
            if r.status_code not in (404, 405):
                self._ok(r)  # 401, 403, 429...: this call failed; no mode to switch
                raise RemoteError(f"network API: astara_model answered {r.status_code}")
            if self._has_model_route:
                # The route worked: a bare 404 (a proxy, a restart) does not say the router
                # is gone; its own record does.
                check = self._req("GET", f"/routers/{router_id}", params={"fields": "id"})
                if check.status_code == 404 and _not_found(check):
                    return None
                raise RemoteError(f"network API: astara_model of {router_id} answered "
                                  f"{r.status_code} {r.text[:200]}")
            self._has_model_route = False  # a real Neutron: gather it the long way
        return self._gather(router_id)

    def _gather(self, router_id: str) -> RouterModel | None:
        r = self._req("GET", f"/routers/{router_id}")
        if r.status_code == 404:
            return None
        self._ok(r)
        router = r.json()["router"]
        refused = router_model.refusal(router)
        if refused is not None:
            if router_id not in self._refused_seen:
                self._refused_seen.add(router_id)
                LOG.error("router %s: %s", router_id, refused)
            return RouterModel({**router, "ha": False}, [], {}, {}, refused=refused)
        ports, planted = router_model.trusted(
            router, self._list("/ports", "ports", device_id=router_id), self._mgmt_net,
            (INTERFACE, GATEWAY, MGMT_OWNER))
        self._warn_planted(router_id, planted)
        sn_ids = router_model.subnet_ids(ports)
        net_ids = router_model.network_ids(ports, (INTERFACE, GATEWAY))
        internal = router_model.network_ids(ports, (INTERFACE,))
        return router_model.gathered(
            router, ports,
            self._by_ids("/subnets", "subnets", "id", sn_ids),
            self._by_ids("/networks", "networks", "id", net_ids),
            self._list("/floatingips", "floatingips", router_id=router_id),
            self._by_ids("/ports", "ports", "network_id", internal))

    def _warn_planted(self, router_id: str, planted: list[dict]) -> None:
        new = sorted(p["id"] for p in planted if p.get("id") not in self._planted_seen)
        if new:
            self._planted_seen.update(new)
            LOG.warning("router %s: ignoring ports labelled as its own that no trusted "
                        "relation makes its (another project's?): %s", router_id,
                        ", ".join(f"{p['id']} ({p.get('device_owner')}, project "
                                  f"{p.get('project_id') or '-'})"
                                  for p in planted if p["id"] in new))

    def routers(self) -> list[ResourceRef]:
        routers = self._list("/routers", "routers", fields=["id", "project_id"])
        return [ResourceRef("router", r["id"], r["project_id"]) for r in routers]

    def routers_on_network(self, network_id: str) -> list[ResourceRef]:
        # Our API answers from the router-port association; port labels are the
        # network owner's to write. Only a real Neutron (which checks a port's
        # device_id is the caller's router) is asked for labelled ports.
        if self._has_routers_route is not False:
            r = self._req("GET", f"/networks/{network_id}/astara_routers")
            if r.status_code == 200:
                self._has_routers_route = True
                return [ResourceRef("router", x["id"], x["project_id"])
                        for x in r.json()["routers"]]
            if r.status_code == 404 and (self._has_routers_route
                                         or _not_found(r, "NetworkNotFound")):
                self._has_routers_route = True
                return []
            if r.status_code != 404:
                self._ok(r)
            self._has_routers_route = False
        ports = self._get("/ports", network_id=network_id,
                          device_owner=INTERFACE)["ports"]
        return sorted({ResourceRef("router", p["device_id"], p["project_id"]) for p in ports})

    def set_router_status(self, router_id: str, status: str) -> None:
        """Called on a change of the router's status only (never per health check)."""
        if self._router_status_to == "tags":
            self._tag_status(router_id, status)
            return
        if self._router_status_to == "none":
            return
        r = self._req("PUT", f"/routers/{router_id}", json={"router": {"status": status}})
        if r.status_code == 400 and _read_only_status(r.text):
            # A real Neutron: a router's status is its own (read-only). The orchestrator
            # keeps it (astara-ctl router show); asking again would fail every pass.
            self._router_status_to = "tags" if self._has_tags() else "none"
            LOG.warning("network API refuses router status updates (%s): router status "
                        "is kept by the orchestrator%s", r.text[:200],
                        f", shown as the router's tag {status_tags.PREFIX}<STATUS>"
                        if self._router_status_to == "tags" else
                        " only (no tag extension to show it)")
            if self._router_status_to == "tags":
                self._tag_status(router_id, status)
            return
        if r.status_code not in (200, 404):
            raise RemoteError(f"router status update refused: {r.status_code} {r.text[:200]}")

    def _has_tags(self) -> bool:
        """Whether the API lists Neutron's tag extension (no extension list: no; a failed
        read: RemoteError, so the next pass writes the status, and asks, again)."""
        r = self._req("GET", "/extensions")
        if r.status_code == 404:
            return False
        self._ok(r)
        return status_tags.supported(r.json())

    def _tag_status(self, router_id: str, status: str) -> None:
        """The status's tag added, the other statuses' removed. A failure is logged once
        (then at DEBUG) and not raised: the next change of status writes its tag again.
        Never read back: the router's project can write its tags too."""
        try:
            r = self._req("PUT", f"/routers/{router_id}/tags/{status_tags.tag(status)}")
            if r.status_code == 404:
                return  # the router is gone
            self._ok(r)
            for old in status_tags.stale(status):
                r = self._req("DELETE", f"/routers/{router_id}/tags/{old}")
                if r.status_code != 404:  # a tag it does not have
                    self._ok(r)
        except RemoteError as exc:
            log = LOG.debug if self._tag_failure_logged else LOG.warning
            self._tag_failure_logged = True
            log("router %s: status tag %s not written (written again at its next change "
                "of status): %s", router_id, status_tags.tag(status), exc)

    def set_port_status(self, port_id: str, status: str) -> bool:
        if not self._port_status_writable:
            return False
        r = self._req("PUT", f"/ports/{port_id}", json={"port": {"status": status}})
        if r.status_code == 400 and _read_only_status(r.text):
            # A real Neutron: status is read-only there (its agents report it). Asking
            # again would fail every pass; its ports go ACTIVE without us.
            self._port_status_writable = False
            LOG.warning("network API refuses port status updates (%s): instance ports' "
                        "status is left to it", r.text[:200])
            return False
        if r.status_code not in (200, 404):
            raise RemoteError(f"port status update refused: {r.status_code} {r.text[:200]}")
        return True

    def management_port(self, router_id: str, create: bool, absent: bool = False
                        ) -> dict | None:
        # Only on the management network (ours): a port elsewhere labelled so is not.
        ports = [] if absent and create else self._get(
            "/ports", device_id=router_id, device_owner=MGMT_OWNER,
            network_id=self._mgmt_net)["ports"]
        if ports or not create:
            return ports[0] if ports else None
        r = self._req("POST", "/ports", json={"port": {
            "network_id": self._mgmt_net, "device_id": router_id, "device_owner": MGMT_OWNER,
            "name": f"ASTARA:MGT:{router_id}"}})
        self._ok(r)
        return r.json()["port"]

    def router_by_management_address(self, address: str) -> str | None:
        """The router whose management port holds ``address``: our own record (a port
        the service made on the management network, not shared, read as the service),
        checked again here whatever filters the API honoured. None: no such port."""
        ports = self._get("/ports", network_id=self._mgmt_net, device_owner=MGMT_OWNER,
                          fixed_ips=f"ip_address={address}")["ports"]
        found = {p.get("device_id") for p in ports
                 if p.get("network_id") == self._mgmt_net and p.get("device_owner") == MGMT_OWNER
                 and any(same_ip(f.get("ip_address"), address)
                         for f in p.get("fixed_ips") or [])}
        return found.pop() if len(found) == 1 and None not in found and "" not in found \
            else None

    def management_device_ids(self) -> list[str]:
        ports = self._list("/ports", "ports", device_owner=MGMT_OWNER,
                           network_id=self._mgmt_net, fields=["device_id"])
        return [p["device_id"] for p in ports]

    def ha_ports(self, member_id: str) -> list[dict]:
        return self._get("/ports", device_id=member_id, device_owner=HA_INTERFACE)["ports"]

    def create_ha_port(self, member_id: str, network_id: str) -> dict:
        r = self._req("POST", "/ports", json={"port": {
            "network_id": network_id, "device_id": member_id, "device_owner": HA_INTERFACE,
            "fixed_ips": [], "port_security_enabled": False,
            "name": f"ASTARA:HA:{member_id}"}})
        self._ok(r)
        return r.json()["port"]

    def delete_port(self, port_id: str) -> None:
        r = self._req("DELETE", f"/ports/{port_id}")
        if r.status_code not in (204, 404):
            self._ok(r)

    def delete_management_port(self, router_id: str) -> None:
        port = self.management_port(router_id, create=False)
        if port is not None:
            r = self._req("DELETE", f"/ports/{port['id']}")
            if r.status_code not in (204, 404):
                self._ok(r)
