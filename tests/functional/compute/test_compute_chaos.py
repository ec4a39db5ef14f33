"""Create/delete churn while the agent and the dispatcher are SIGKILLed (root).

The agent and the dispatcher run as real processes (``Daemons``) on the stack's
config. 50 instances (one or two ports) are created and about half deleted again,
some while building, while a chaos thread kills the agent, the dispatcher or both at
random moments and restarts them after a random pause. The schedule comes from one
seed (``ASTARA_CHAOS_SEED`` replays it; the seed is in every failure message). At
the end the database and the host must agree: every live instance ACTIVE with its
namespace, veths, bridges and processes; every deleted one gone from both; no other
namespace, veth, bridge or process of ours; quota usage equal to the live count.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from compute_stack import ComputeStack, Daemons, new_project, sh
from sqlalchemy import select

from astara.compute_service import catalog
from astara.compute_service.agent.netns import NETNS_DIR, SYS_NET
from astara.compute_service.agent.runner import read_pid
from astara.compute_service.models import DeadLetter, Host, Instance, Job, QuotaUsage

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(b) for b in ("dhclient", "ip")),
                       reason="needs dhclient and iproute2"),
]

INSTANCES = 50
SEED = int(os.environ.get("ASTARA_CHAOS_SEED") or random.SystemRandom().randrange(10**6))


@pytest.fixture
def lab():
    work = Path(tempfile.mkdtemp(prefix="astara-chaos-"))
    stack = ComputeStack(work)
    with open(stack.config, "a") as f:
        f.write("[bus]\nmax_idle_wait = 1.0\n")
    daemons = Daemons(stack.config, work)
    try:
        yield stack, daemons
    finally:
        daemons.close()
        strays = our_processes(work)  # only if the test failed: started, never tracked
        for pid in strays:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        stack.close()
    assert stack.leftovers() == []
    shutil.rmtree(work, ignore_errors=True)


def our_processes(work: Path) -> dict[int, str]:
    """pid -> cmdline of each dhclient and responder started for an instance under ``work``
    (they run in their instance directory; short-lived dhclient-script children are not
    counted, nor the host's responder zygote, which serves every instance)."""
    zygote = read_pid(work / "state" / "compute" / "responder-zygote" / "zygote.pid")
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if int(entry) != zygote and str(work / "state" / "compute") in cmdline + " " + cwd \
                and ("dhclient -4" in cmdline or "responder" in cmdline):
            found[int(entry)] = cmdline
    return found


def netns_of(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return ""


def has_host(stack) -> bool:
    with stack.db.read() as s:
        return s.get(Host, stack.settings.host) is not None


def converge(c: httpx.Client, sids: list[str], deleted: set[str], why) -> None:
    deadline = time.monotonic() + 120
    pending: dict[str, str] = {}
    while time.monotonic() < deadline:
        pending = {}
        for sid in sids:
            resp = c.get(f"/v2.1/servers/{sid}")
            if sid in deleted:
                if resp.status_code != 404:
                    pending[sid] = f"{resp.status_code} {resp.text[:80]}"
            else:
                server = resp.json()["server"]
                if server["status"] != "ACTIVE" or server["OS-EXT-STS:task_state"]:
                    pending[sid] = f"{server['status']}/{server['OS-EXT-STS:task_state']}"
        if not pending:
            return
        time.sleep(0.2)
    raise AssertionError(why(f"not converged: {json.dumps(pending, indent=1)}"))


def test_churn_with_agent_and_dispatcher_killed(lab):
    stack, daemons = lab
    rng = random.Random(SEED)
    plan = [{"two_ports": rng.random() < 0.3, "delete": rng.random() < 0.5,
             "delay": rng.uniform(0, 1.5), "start": rng.uniform(0, 8)}
            for _ in range(INSTANCES)]
    kills = []
    t = 0.3
    while t < 10:
        kills.append((t, rng.choice(("agent", "dispatcher", "both")), rng.uniform(0.05, 0.8)))
        t += rng.uniform(0.3, 1.5)
    done_kills: list[str] = []

    def why(msg: str) -> str:
        logs = "".join(f"\n--- {n}.log (tail) ---\n" + (stack.work / f"{n}.log").read_text()[-2000:]
                       for n in ("agent", "dispatcher") if (stack.work / f"{n}.log").exists())
        with stack.db.read() as s:
            faults = [(r.id[:8], r.fault) for r in s.scalars(select(Instance).where(
                Instance.fault.is_not(None)))][:3]
            failed = [(j.instance_id[:8], j.op, j.log[-600:]) for j in s.scalars(
                select(Job).where(Job.status == "failed"))][:3]
        return (f"{msg}\nASTARA_CHAOS_SEED={SEED} kills done: {done_kills}\n"
                f"faults: {faults}\nfailed jobs: {failed}{logs}")

    project = new_project()
    headers = stack.headers(project)
    with httpx.Client(base_url=stack.network.url, headers=headers, timeout=30) as n:
        nets = []
        for i, cidr in enumerate(("10.71.0.0/24", "10.72.0.0/24")):
            net = n.post("/v2.0/networks", json={"network": {"name": f"chaos{i}"}}).json()
            nets.append(net["network"]["id"])
            n.post("/v2.0/subnets", json={"subnet": {"network_id": nets[-1], "cidr": cidr,
                                                     "ip_version": 4}})
    daemons.start("agent")
    daemons.start("dispatcher")
    deadline = time.monotonic() + 20
    while not has_host(stack):  # until then a create has "no valid host" (ERROR)
        assert time.monotonic() < deadline, why("the agent never registered")
        time.sleep(0.05)
    t0 = time.monotonic()
    stop = threading.Event()

    def chaos():
        for at, who, pause in kills:
            if stop.wait(max(0.0, at - (time.monotonic() - t0))):
                return
            names = ("agent", "dispatcher") if who == "both" else (who,)
            for name in names:
                daemons.kill(name)
            done_kills.append(f"{time.monotonic() - t0:.2f}s {who}")
            time.sleep(pause)
            for name in names:
                daemons.start(name)

    sids: list[str | None] = [None] * INSTANCES
    deleted: set[str] = set()
    with httpx.Client(base_url=stack.compute.url, headers=headers, timeout=30) as c:
        def one(i: int) -> None:
            step = plan[i]
            time.sleep(step["start"])
            networks = [{"uuid": nets[0]}] + ([{"uuid": nets[1]}] if step["two_ports"] else [])
            resp = c.post("/v2.1/servers", json={"server": {
                "name": f"chaos-{i}", "imageRef": catalog.TENANT_IMAGE, "flavorRef": "1",
                "networks": networks}})
            assert resp.status_code == 202, why(resp.text)
            sids[i] = resp.json()["server"]["id"]
            if step["delete"]:
                time.sleep(step["delay"])
                assert c.delete(f"/v2.1/servers/{sids[i]}").status_code == 204, why("delete")
                deleted.add(sids[i])

        killer = threading.Thread(target=chaos, daemon=True)
        killer.start()
        try:
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(one, range(INSTANCES)))
        finally:
            stop.set()
            killer.join(10)
        daemons.start("agent")
        daemons.start("dispatcher")
        all_ids = [s for s in sids if s]
        converge(c, all_ids, deleted, why)
    live = set(all_ids) - deleted
    assert len(done_kills) >= 5, why("too few kills")

    # The database.
    with stack.db.read() as s:
        rows = {r.id: r for r in s.scalars(select(Instance).where(
            Instance.project_id == project))}
        usage = s.get(QuotaUsage, project)
        unfinished = s.scalars(select(Job).where(Job.status.in_(("pending", "running")))).all()
        dead = s.scalars(select(DeadLetter)).all()
        s.expunge_all()  # plain, detached values from here on
    assert {i for i, r in rows.items() if not r.deleted} == live, why("live rows")
    assert all(rows[i].vm_state == "deleted" for i in deleted), why("deleted rows")
    assert usage.instances == len(live), why(f"quota {usage.instances} != {len(live)}")
    assert not unfinished and not dead, why(f"jobs {unfinished} dead letters {dead}")

    # The host.
    backend = stack.backend
    want_ns = {backend.netns(i) for i in live}
    have_ns = {n for n in os.listdir(NETNS_DIR) if n.startswith(stack.settings.netns_prefix)}
    assert have_ns == want_ns, why(f"namespaces: extra {have_ns - want_ns}, "
                                   f"missing {want_ns - have_ns}")
    want_taps = {backend.tap(p["port_id"]): backend.bridge(p["net_id"])
                 for i in live for p in rows[i].ports}
    all_taps = {backend.tap(p["port_id"]) for r in rows.values() for p in r.ports}
    have_taps = {t for t in os.listdir(SYS_NET) if t in all_taps}
    assert have_taps == set(want_taps), why(f"veths: extra {have_taps - set(want_taps)}")
    for tap, br in want_taps.items():
        assert (SYS_NET / br / "brif" / tap).exists(), why(f"{tap} not on {br}")
    have_br = {b for b in os.listdir(SYS_NET) if b.startswith(stack.settings.bridge_prefix)}
    assert have_br == set(want_taps.values()), why(f"bridges {have_br}")
    expected_procs = 0
    for i in live:
        ns = backend.netns(i)
        links = json.loads(sh("ip", "-j", "-n", ns, "link", "show").stdout)
        macs = sorted(link["address"] for link in links if link["ifname"] != "lo")
        assert macs == sorted(p["mac_address"] for p in rows[i].ports), why(f"links of {ns}")
        assert all("UP" in link["flags"] for link in links), why(f"{ns} links down")
        expected_procs += len(rows[i].ports) + 1  # dhclient per port + the responder
    procs = our_processes(stack.work)
    inodes = {netns_of(pid) for pid in procs}
    live_inodes = {f"net:[{(NETNS_DIR / ns).stat().st_ino}]" for ns in want_ns}
    assert inodes <= live_inodes, why(f"processes outside live namespaces: {procs}")
    assert len(procs) == expected_procs, why(f"{len(procs)} processes, want "
                                             f"{expected_procs}: {procs}")
    assert backend.observe().keys() == live, why("observed")
    assert all(o.running for o in backend.observe().values()), why("not running")
