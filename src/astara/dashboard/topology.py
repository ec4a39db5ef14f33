"""A project's topology as a drawable graph: API answers in, nodes and edges with
positions out. Pure: the page's script (static/topology.js) draws it as SVG.

An external network is drawn only when one of the project's routers uses it as its
gateway, and without a link (its page is the admin's, not the tenant's).

Columns left to right: external networks, routers and load balancers, tenant networks,
instances; floating IPs sit beside the instance they point at. Within a column the
order is by name then id, so a refresh moves nothing that did not change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

COLUMN_X = {"external": 80, "router": 260, "loadbalancer": 260, "network": 460,
            "server": 660, "floatingip": 840}
ROW_GAP = 70
TOP = 50


@dataclass(frozen=True)
class Node:
    id: str
    kind: str
    label: str
    status: str
    href: str  # "" for none
    x: int = 0
    y: int = 0


def _label(item: dict) -> str:
    return (item.get("name") or item.get("id") or "?")[:40]


def build(networks: list[dict], routers: list[dict], router_ports: list[dict],
          servers: list[dict], loadbalancers: list[dict], floatingips: list[dict],
          ports: list[dict]) -> dict[str, Any]:
    """``router_ports``: the ports the network API says are routers' (device_owner
    network:router_interface* / gateway, each with device_id); ``ports``: the project's
    ports (to tie an instance to its networks and a floating IP to its instance)."""
    nodes: dict[str, Node] = {}
    edges: set[tuple[str, str]] = set()
    gateways = {gw for r in routers
                if (gw := (r.get("external_gateway_info") or {}).get("network_id"))}
    for n in networks:
        if n.get("router:external"):
            if n["id"] in gateways:
                nodes[n["id"]] = Node(n["id"], "external", _label(n),
                                      n.get("status") or "", "")
            continue
        nodes[n["id"]] = Node(n["id"], "network", _label(n), n.get("status") or "",
                              f"/networks/{n['id']}")
    for r in routers:
        nodes[r["id"]] = Node(r["id"], "router", _label(r), r.get("status") or "",
                              f"/routers/{r['id']}")
        gw = (r.get("external_gateway_info") or {}).get("network_id")
        if gw:
            nodes.setdefault(gw, Node(gw, "external", "external", "", ""))
            edges.add((r["id"], gw))
    for p in router_ports:
        if p.get("device_id") in nodes and p.get("network_id") in nodes:
            edges.add((p["device_id"], p["network_id"]))
    for s in servers:
        nodes[s["id"]] = Node(s["id"], "server", _label(s), s.get("status") or "",
                              f"/instances/{s['id']}")
    for p in ports:  # an instance's networks: its ports (names can repeat, ids cannot)
        if p.get("device_id") in nodes and nodes[p["device_id"]].kind == "server" \
                and p.get("network_id") in nodes:
            edges.add((p["device_id"], p["network_id"]))
    for lb in loadbalancers:
        nodes[lb["id"]] = Node(lb["id"], "loadbalancer", _label(lb),
                               lb.get("provisioning_status") or "", "/loadbalancers")
        net = lb.get("vip_network_id")
        if net in nodes:
            edges.add((lb["id"], net))
    device_of = {p["id"]: p.get("device_id") for p in ports if p.get("id")}
    for f in floatingips:
        label = f.get("floating_ip_address") or f["id"]
        nodes[f["id"]] = Node(f["id"], "floatingip", label, f.get("status") or "",
                              "/floatingips")
        target = device_of.get(f.get("port_id") or "")
        if target in nodes:
            edges.add((f["id"], target))
    placed = layout(list(nodes.values()))
    return {"nodes": [asdict(n) for n in placed],
            "edges": [{"from": a, "to": b} for a, b in sorted(edges)]}


def layout(nodes: list[Node]) -> list[Node]:
    """Each node in its kind's column, rows in a stable order."""
    rows: dict[int, int] = {}
    out = []
    for n in sorted(nodes, key=lambda n: (COLUMN_X[n.kind], n.label, n.id)):
        x = COLUMN_X[n.kind]
        row = rows.get(x, 0)
        rows[x] = row + 1
        out.append(Node(n.id, n.kind, n.label, n.status, n.href, x, TOP + row * ROW_GAP))
    return out
