"""The management network: where appliances listen and the orchestrator reaches them.

At start the orchestrator finds the network by name among its own project's (the
service project's) through the network API, or creates it (admin, IPv6 subnet of
``management_prefix``, addresses from ``::10`` so the host's ``::1`` stays free, no
gateway: it routes nowhere). Cluster members find or create it under one lock of the
coordination service (``Membership.lock``), so only the first creates. Should the lock
not be had (the service down at start), members that made one each at once agree on
one (``_pick``: the oldest, then the smallest id: the same rule for finding); each
deletes the one it made if that is not it and no port is on it yet.
"""

from __future__ import annotations

import ipaddress
import logging
from contextlib import AbstractContextManager, nullcontext

import httpx

from astara.orchestrator.opts import OrchestratorSettings

LOG = logging.getLogger(__name__)


def _named(o: OrchestratorSettings, http: httpx.Client) -> tuple[list[dict], list[dict]]:
    """(ours, every network so named). Ours only: as an admin the list holds every
    project's networks, and a tenant may name one of its own like the management one."""
    found = http.get("/v2.0/networks", params={"name": o.management_network_name,
                                               "project_id": o.service_project_id}).json()
    every = found.get("networks", [])
    return [n for n in every
            if n.get("project_id", n.get("tenant_id")) == o.service_project_id], every


def _pick(mine: list[dict]) -> str:
    """The one network every member uses among several so named: the oldest, then the
    smallest id (``created_at`` has a one-second resolution). Pure."""
    return str(min(mine, key=lambda n: (str(n.get("created_at") or ""), str(n["id"])))["id"])


def ensure_network(o: OrchestratorSettings, http: httpx.Client,
                   lock: AbstractContextManager[bool] | None = None) -> str:
    """The management network's id, found or created under ``lock`` (a cluster's)."""
    with lock if lock is not None else nullcontext(True) as held:
        if not held:
            LOG.warning("management network: the cluster lock was not had: finding or "
                        "creating it without (members starting at once may each make "
                        "one; the extra ones are deleted)")
        return _find_or_create(o, http)


def _find_or_create(o: OrchestratorSettings, http: httpx.Client) -> str:
    mine, every = _named(o, http)
    if mine:
        return _pick(mine)
    if others := [n.get("id") for n in every]:
        LOG.warning("networks named %s exist in other projects (%s): not ours, ignored; "
                    "creating the management network in project %s (is [orchestrator] "
                    "service_project_id the service project's id?)",
                    o.management_network_name, ", ".join(map(str, others)),
                    o.service_project_id)
    net = http.post("/v2.0/networks", json={"network": {
        "name": o.management_network_name, "shared": False}})
    net.raise_for_status()
    net_id = net.json()["network"]["id"]
    prefix = ipaddress.ip_network(o.management_prefix)
    sub = http.post("/v2.0/subnets", json={"subnet": {
        "network_id": net_id, "name": f"{o.management_network_name}-subnet",
        "ip_version": prefix.version, "cidr": str(prefix), "gateway_ip": None,
        "enable_dhcp": False,
        "allocation_pools": [{"start": str(prefix.network_address + 0x10),
                              "end": str(prefix.broadcast_address - (prefix.version == 4))}]}})
    sub.raise_for_status()
    return _settle(o, http, net_id)


def _settle(o: OrchestratorSettings, http: httpx.Client, created: str) -> str:
    """Cluster members starting at once without the lock may each have made one: every
    member keeps ``_pick``'s (the same answer for all) and deletes its own if that is
    not it, unless a port is on it already (some member took it: it stays, warned)."""
    mine, _ = _named(o, http)
    if len(mine) <= 1:
        return created
    keep = _pick(mine)
    if keep == created:
        return keep
    listed = http.get("/v2.0/ports", params={"network_id": created})
    try:
        ports = listed.json()["ports"] if listed.status_code == 200 else None
    except (ValueError, KeyError, TypeError):
        ports = None
    if not isinstance(ports, list):  # unknown: a port may be on it, so it stays
        LOG.warning("management network %s was made at the same time as ours (%s); the "
                    "ports on ours could not be listed (%s): keeping %s, not deleting ours",
                    keep, created, listed.status_code, keep)
        return keep
    if ports:
        LOG.warning("management network %s was made at the same time as ours (%s), which "
                    "has %d port(s) already: keeping %s, not deleting ours", keep, created,
                    len(ports), keep)
        return keep
    LOG.info("management network %s was made at the same time as ours: keeping it, "
             "deleting ours (%s)", keep, created)
    gone = http.delete(f"/v2.0/networks/{created}")
    if gone.status_code not in (204, 404):
        LOG.warning("management network %s (ours, unused) not deleted: %s %s", created,
                    gone.status_code, gone.text[:200])
    return keep
