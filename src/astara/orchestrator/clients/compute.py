"""Compute API client (Nova v2.1) for appliance instances, over httpx.

An appliance instance is named and labelled as its driver says (``ApplianceIdentity``:
``ak-<router id>`` with ``astara_router_id`` for a router). Its attached ports are
read from the server's addresses (MAC -> port id, from the resource's own ports), so
finding it is one call. No kind is known here.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from astara.orchestrator.clients.base import NotKnown, RemoteError
from astara.orchestrator.clients.http import HttpApi
from astara.orchestrator.reconcile.model import ApplianceIdentity, Instance

if TYPE_CHECKING:
    import httpx

    from astara.orchestrator.byonf import BootSpec


LOG = logging.getLogger(__name__)
# soft-anti-affinity exists from 2.15; the group's body is the pre-2.64 one
GROUP_VERSION = {"X-OpenStack-Nova-API-Version": "2.15", "OpenStack-API-Version": "compute 2.15"}
GROUP_PAGE = 1000  # Nova's default max_limit
GROUP_PAGES = 1000  # bounded: a million groups


def is_appliance_of(server: dict, who: ApplianceIdentity) -> bool:
    """Booted by us for this resource: its name, and its id in its metadata."""
    meta = server.get("metadata")
    return server.get("name") == who.name and isinstance(meta, dict) \
        and meta.get(who.metadata_key) == who.resource_id


class HttpComputeAPI(HttpApi):
    def __init__(self, url: str, headers: dict[str, str], image: str, flavor: str,
                 timeout: float = 30.0, auth: httpx.Auth | None = None):
        super().__init__("compute API", url.rstrip("/") + "/v2.1",
                         {**headers, "X-OpenStack-Nova-API-Version": "2.1"}, timeout, auth)
        self._image, self._flavor = image, flavor
        self._refs: dict[str, str] = {}

    def _ref(self, kind: str, wanted: str) -> str:
        """The id of the flavor or image named (or id'd) ``wanted``; looked up once
        (NotKnown if there is none: asked again next time, it may have been added)."""
        key = f"{kind}:{wanted}"
        if key not in self._refs:
            r = self._req("GET", f"/{kind}")
            self._ok(r)
            found = [x["id"] for x in r.json()[kind] if wanted in (x["id"], x.get("name"))]
            if not found:
                raise NotKnown(f"no {kind[:-1]} named {wanted!r} in the compute service")
            self._refs[key] = found[0]
        return self._refs[key]

    def missing(self, image: str, flavor: str) -> str | None:
        try:
            self._ref("images", image)
            self._ref("flavors", flavor)
        except NotKnown as exc:
            return str(exc)
        return None

    def find(self, who: ApplianceIdentity, macs: dict[str, str]) -> Instance | None:
        # The name filter is a regex: the id is escaped, and what comes back is kept
        # only if it is this router's appliance (its exact name, its metadata).
        r = self._req("GET", "/servers/detail",
                      params={"name": f"^{re.escape(who.name)}$"})
        self._ok(r)
        servers = [s for s in r.json()["servers"]
                   if s.get("status") != "DELETED" and is_appliance_of(s, who)]
        if not servers:
            return None
        servers.sort(key=lambda x: (x.get("status") == "ACTIVE", x.get("created", ""), x["id"]))
        s = servers[-1]  # the newest active one; any other is a leftover to remove
        attached = {macs[a["OS-EXT-IPS-MAC:mac_addr"]]
                    for addrs in (s.get("addresses") or {}).values() for a in addrs
                    if a.get("OS-EXT-IPS-MAC:mac_addr") in macs}
        if len(attached) < len(macs) and s.get("status") == "ACTIVE":
            # A port without an address (an HA member's, docs/ha.md) shows in no
            # ``addresses``: its interfaces say whether it is plugged (one more call,
            # only while some wanted port is not seen).
            attached |= self._interfaces(s["id"], macs)
        extras = frozenset(x["id"] for x in servers[:-1]
                           if x.get("OS-EXT-STS:task_state") != "deleting")
        return Instance(id=s["id"], status=s["status"], ports=frozenset(attached),
                        deleting=s.get("OS-EXT-STS:task_state") == "deleting", extras=extras,
                        generation=who.generation_of(s["metadata"]),
                        host_id=s.get("hostId") or None)

    def _interfaces(self, server_id: str, macs: dict[str, str]) -> set[str]:
        r = self._req("GET", f"/servers/{server_id}/os-interface")
        if r.status_code == 404:
            return set()
        self._ok(r)
        wanted = set(macs.values())
        return {a["port_id"] for a in r.json().get("interfaceAttachments", [])
                if a.get("port_id") in wanted}

    def boot(self, who: ApplianceIdentity, port_ids: list[str], request_id: str,
             spec: BootSpec | None = None, different_host: tuple[str, ...] = (),
             group: str | None = None) -> str:
        image, flavor = (spec.image, spec.flavor) if spec is not None else (
            self._image, self._flavor)
        # Idempotency-Key makes a retried boot (after a crash) return the same instance
        # from our compute service; a real Nova ignores it (find() then sees the name).
        body: dict = {"server": {
            "name": who.name, "imageRef": self._ref("images", image),
            "flavorRef": self._ref("flavors", flavor),
            "networks": [{"port": p} for p in port_ids],
            "metadata": who.metadata}}
        hints: dict = {}
        if different_host:
            # Ours places it elsewhere when it can, else beside them; Nova's filter is
            # strict (no other host: the boot fails and is retried).
            hints["different_host"] = list(different_host)
        if group:
            hints["group"] = group
        if hints:
            body["os:scheduler_hints"] = hints
        r = self._req("POST", "/servers", headers={"Idempotency-Key": request_id,
                                                   "X-OpenStack-Request-ID": request_id},
                      json=body)
        if r.status_code not in (200, 202):
            if r.status_code == 400:
                self._refs.clear()  # an image or flavor gone since: look them up again
            raise RemoteError(f"boot refused: {r.status_code} {r.text[:300]}")
        return r.json()["server"]["id"]

    def named(self, pattern: str, metadata_key: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for s in self._all_pages("/servers/detail", "servers", {"name": pattern}):
            meta = s.get("metadata")
            if s.get("status") != "DELETED" and isinstance(meta, dict) \
                    and isinstance(meta.get(metadata_key), str):
                out.setdefault(meta[metadata_key], []).append(s["id"])
        return out

    def _groups(self, name: str) -> list[dict]:
        # Nova pages this list by limit/offset (max_limit 1000), without links: ask
        # page after page until one is short, or adds nothing (an API that ignores them).
        seen: dict[str, dict] = {}
        for page in range(GROUP_PAGES):
            r = self._req("GET", "/os-server-groups", headers=GROUP_VERSION,
                          params={"limit": GROUP_PAGE, "offset": page * GROUP_PAGE})
            if r.status_code == 404:
                return []  # a compute API without server groups
            self._ok(r)
            rows = [g for g in r.json().get("server_groups", []) if isinstance(g, dict)]
            new = [g for g in rows if g.get("id") not in seen]
            seen.update((g.get("id"), g) for g in new)
            if len(rows) < GROUP_PAGE or not new:
                break
        return [g for g in seen.values() if g.get("name") == name]

    def server_group(self, name: str, create: bool) -> tuple[str, tuple[str, ...]] | None:
        found = self._groups(name)
        if not found and create:
            r = self._req("POST", "/os-server-groups", headers=GROUP_VERSION, json={
                "server_group": {"name": name, "policies": ["soft-anti-affinity"]}})
            if r.status_code in (403, 404):  # over the project's quota, or no groups
                LOG.warning("compute API: no server group %s made (%s): the member is "
                            "booted without it", name, r.status_code)
                return None
            self._ok(r)
            found = [r.json()["server_group"]]
        if not found:
            return None
        g = found[0]
        return g["id"], tuple(g.get("members") or ())

    def delete_server_group(self, name: str) -> None:
        for g in self._groups(name):
            r = self._req("DELETE", f"/os-server-groups/{g['id']}", headers=GROUP_VERSION)
            if r.status_code not in (204, 404):
                self._ok(r)

    def delete(self, instance_id: str) -> None:
        r = self._req("DELETE", f"/servers/{instance_id}")
        if r.status_code not in (202, 204, 404):
            raise RemoteError(f"delete refused: {r.status_code} {r.text[:300]}")

    def attach(self, instance_id: str, port_id: str) -> None:
        r = self._req("POST", f"/servers/{instance_id}/os-interface",
                      json={"interfaceAttachment": {"port_id": port_id}})
        if r.status_code not in (200, 202):
            raise RemoteError(f"attach refused: {r.status_code} {r.text[:300]}")

    def detach(self, instance_id: str, port_id: str) -> None:
        r = self._req("DELETE", f"/servers/{instance_id}/os-interface/{port_id}")
        if r.status_code not in (200, 202, 204, 404):
            raise RemoteError(f"detach refused: {r.status_code} {r.text[:300]}")
