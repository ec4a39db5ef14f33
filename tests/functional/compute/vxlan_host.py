"""One "host" of the VXLAN functional test: run inside that host's network namespace
(``ip netns exec HOST python vxlan_host.py JSON``) so that ``/sys/class/net`` and every
``ip``/``bridge`` command see that host's links, never the real host's.

JSON: ``db`` (URL shared by the hosts), ``host``, ``tunnel`` (its underlay address),
``state`` (its state directory), ``tag`` (the test's random tag), ``op``:
``beat`` (the agent's heartbeat: records the host, syncs flood entries), ``create``
or ``delete`` (of ``spec``, an appliance-profile instance), ``plug`` (``spec``'s ports
plugged as its profile's, nothing started: a tenant's without its DHCP client),
``observe`` (the pins reconcile sees). ``mgmt`` (optional): the management network's
name, the host address, the holders' host names (comma-separated) and the metadata
address; a holder's ``beat`` claims its address first (as the agent's start does; the
refusal line, if any, in ``refused``). Prints a JSON result.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from astara.bus.outbox import OutboxPublisher
from astara.bus.wakeup import WakeupDir
from astara.compute_service.agent import holders
from astara.compute_service.agent.backend import InstanceSpec
from astara.compute_service.agent.netns import NetnsBackend
from astara.compute_service.agent.worker import Agent
from astara.compute_service.settings import defaults as compute_defaults
from astara.db.engine import Database


def prefixes(tag: str, host: str) -> dict[str, str]:
    """The names one test host's backend uses (all carry the test's tag)."""
    letter = host[-1]
    return {"netns_prefix": f"avt-{tag}-{letter}-",
            "appliance_netns_prefix": f"ava-{tag}-{letter}-", "bridge_prefix": f"vb{tag}"}


def main(args: dict) -> dict:
    state = Path(args["state"])
    mgmt = dict(args.get("mgmt") or {"management_network": f"mgmt-{args['tag']}",
                                     "management_host_address": ""})
    mgmt["management_address_host"] = tuple(
        n for n in mgmt.get("management_address_host", "").split(",") if n)
    compute = replace(compute_defaults(), host=args["host"], tunnel_address=args["tunnel"],
                      state_dir=state, **mgmt, **prefixes(args["tag"], args["host"]))
    db = Database(args["db"])
    try:
        refused = None
        if args["op"] == "beat":
            refused = holders.claim_at_start(db, compute)
        backend = NetnsBackend.from_settings(compute, db=db, holding=refused is None)
        if args["op"] == "beat":
            agent = Agent(db, backend, compute.host, OutboxPublisher(WakeupDir(state / "w")),
                          WakeupDir(state / "j"), tunnel_address=compute.tunnel_address)
            agent.register()
            return {"synced": agent.sync_tunnels(), "refused": refused}
        if args["op"] == "observe":
            return {i: list(map(list, o.pinned or ())) for i, o in backend.observe().items()}
        spec = InstanceSpec.from_job(args["spec"])
        if args["op"] == "plug":
            ns = backend.netns(spec.id, spec.profile)
            backend._plug_all(ns, [(p, f"eth{n}") for n, p in enumerate(spec.ports)], False,
                              spec.profile)
            return {}
        if args["op"] == "create":
            return {"console": backend.create(spec)}
        backend.delete(spec)
        return {}
    finally:
        db.dispose()


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
