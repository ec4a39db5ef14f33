"""What ``astara-ctl cluster`` shows: each member, its share, its leases, its heartbeat.
Pure: the ownership's status, the member rows and the live lease counts in, rows out."""

from __future__ import annotations


def members(status: dict, rows: list[dict], leases: dict[str, int], now: float
            ) -> list[dict]:
    """One row per member in the group or with a row in ``orch_members``: ``share`` is
    its fraction of the ring (0 when not in the group), ``leases`` the live leases its
    current run holds, ``heartbeat_age`` seconds since it last wrote its row."""
    by_name = {r["name"]: r for r in rows}
    shares = status.get("shares", {})
    out = []
    for name in sorted(set(by_name) | set(status.get("members", []))):
        row = by_name.get(name, {})
        beat = row.get("heartbeat_at")
        out.append({
            "name": name,
            "in_group": name in shares,
            "share": round(shares.get(name, 0.0), 4),
            "leases": leases.get(row.get("owner", ""), 0),
            "heartbeat_at": beat,
            "heartbeat_age": None if beat is None else round(max(now - beat, 0.0), 1),
            "coordination": row.get("coordination", ""),
            "rpc_url": row.get("rpc_url", ""),
            "self": name == status.get("member"),
        })
    return out
