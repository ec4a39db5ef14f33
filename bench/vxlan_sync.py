"""VXLAN flood entry sync cost: what each heartbeat of a tunnelled agent pays. Run as root.

    .venv/bin/python bench/vxlan_sync.py [--networks 200] [--peers 3]

Makes a namespace of its own (random name; the host's links are never touched) with
an underlay address and one vxlan device per network, a fresh SQLite database with
``--peers`` other live hosts, each with an instance on every network, then times
``Overlay.sync`` (run inside the namespace, as ``astara-compute-agent`` would) three
times: the first pass (networks x peers entries added), a pass with nothing to change
(the steady heartbeat), and a pass after one peer stops beating (networks entries
removed). Prints a JSON summary; the namespace goes at the end, on failure too.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from astara.common.settings import DatabaseSettings, sqlite_url
from astara.compute_service import jobs
from astara.compute_service.agent import vxlan
from astara.compute_service.agent.overlay import Overlay
from astara.compute_service.agent.runner import SubprocessRunner
from astara.compute_service.models import Host, Instance
from astara.db import migrate
from astara.db.engine import Database

LOCAL = "192.0.2.1"


def inside(db_url: str, prefix: str) -> dict:
    """In the namespace: the three timed passes."""
    db = Database(db_url)
    overlay = Overlay(db, SubprocessRunner(), "me", LOCAL, 60.0, prefix)
    out = {}
    for name in ("first", "steady", "peer_gone"):
        if name == "peer_gone":
            with db.write() as s:
                s.get(Host, "peer0").updated_at = jobs.now() - timedelta(hours=1)
        t = time.perf_counter()
        lines = overlay.sync()
        out[name] = {"seconds": round(time.perf_counter() - t, 4), "lines": len(lines)}
    db.dispose()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--networks", type=int, default=200)
    p.add_argument("--peers", type=int, default=3)
    p.add_argument("--inside", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.inside:
        print(json.dumps(inside(*a.inside)))
        return 0
    tag = secrets.token_hex(2)
    ns, prefix = f"avbench-{tag}", f"vxvb{tag}"
    with tempfile.TemporaryDirectory() as tmp:
        db = migrate.open_database(DatabaseSettings(sqlite_url(Path(tmp)), auto_migrate=True))
        overlay = Overlay(db, SubprocessRunner(), "me", LOCAL, 60.0, prefix)
        nets = [str(uuid.uuid4()) for _ in range(a.networks)]
        now = jobs.now()
        with db.write() as s:
            s.add(Host(name="me", tunnel_address=LOCAL, updated_at=now))
            for i in range(a.peers):
                s.add(Host(name=f"peer{i}", tunnel_address=f"192.0.2.{10 + i}",
                           updated_at=now))
                s.add(Instance(id=str(uuid.uuid4()), project_id="p", name=f"i{i}",
                               host=f"peer{i}", flavor_id="f", image_id="i",
                               created_at=now, updated_at=now,
                               ports=[{"port_id": str(uuid.uuid4()), "net_id": n}
                                      for n in nets]))
        vnis = [overlay.vni(n) for n in nets]
        db.dispose()
        lines = ["link add under0 type veth peer name under1", f"addr add {LOCAL}/24 dev under0",
                 "link set under0 up"]
        for vni in vnis:
            dev = vxlan.device_name(prefix[2:], vni)
            lines.append(f"link add {dev} type vxlan id {vni} local {LOCAL} "
                         f"dstport {vxlan.DSTPORT} nolearning")
        subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            subprocess.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n",
                           text=True, check=True)
            r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, __file__,
                                "--inside", sqlite_url(Path(tmp)), prefix],
                               capture_output=True, text=True, check=True)
            result = json.loads(r.stdout)
        finally:
            subprocess.run(["ip", "netns", "del", ns], check=False)
    print(json.dumps({"networks": a.networks, "peers": a.peers, **result}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
