"""Orchestrator CPU per minute while N routers are only health-checked (in-process).

One simulated minute at ``health_check_period`` 60 s: every router gets one health
pass (observe/plan/execute against the in-tree fakes), the worker reports the
routers it passed to the parent once a second, and each pass's status call is
priced by timing the real appliance client (``HttpApplianceAPI.status``) against a
trivial status server on 127.0.0.1 in another process (its CPU is not counted). The
server closes each connection, as 1,000 different appliances looked at once a
minute do. Printed next to the target (<= 5% of one core, orchestrator and appliance
agent together; the agent's share is the appliance bench's), with the reports as
they were before (every router's summary every second) for comparison.
Usage: bench/orchestrator_idle.py [--routers N] [--calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import time

from astara.orchestrator.clients.appliance import HttpApplianceAPI
from astara.orchestrator.runtime import report, summary
from orchestrator_passes import World

STATUS = {
    "hostname": "ak-router", "config_version": "1", "config_digest": "0" * 64, "applies": 3,
    "interfaces": [{"ifname": f"eth{i}", "mac_address": f"fa:16:3e:00:00:0{i}", "up": True,
                    "mtu": 1500, "addresses": [f"10.0.{i}.1/24", f"fdca::{i}/64"],
                    "counters": {"rx_bytes": 123456, "rx_packets": 1234, "tx_bytes": 654321,
                                 "tx_packets": 4321}} for i in range(3)],
    "services": [{"name": n, "healthy": True} for n in ("nftables", "dnsmasq-eth2",
                                                        "metadata")],
    "nat": {"snat_packets": 10, "snat_bytes": 2000, "dnat_packets": 3, "dnat_bytes": 400},
}


def serve() -> None:
    """The trivial status server: any request gets STATUS, then the connection closes."""
    body = json.dumps(STATUS).encode()
    head = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n" % len(body))

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(head + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


def status_call_cpu(calls: int) -> float:
    """CPU seconds of one status call through the real client."""
    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None
        api = HttpApplianceAPI(b"k" * 32, int(server.stdout.readline()))
        for _ in range(20):
            api.status("127.0.0.1", "instance")
        cpu0 = time.process_time()
        for _ in range(calls):
            seen = api.status("127.0.0.1", "instance")
        cpu = (time.process_time() - cpu0) / calls
        api.close()
        if not seen.reachable:
            raise SystemExit("the status server did not answer")
        return cpu
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--routers", type=int, default=1000)
    ap.add_argument("--calls", type=int, default=2000, help="status calls timed")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        serve()
        return
    n = a.routers
    w = World(n)
    rec = w.reconciler()
    for ref in w.refs:
        w.settle(rec, ref)
    report(rec.states, None)  # the worker's first report: every router
    ticks = [w.refs[i::60] for i in range(60)]  # who is health-checked in each second
    gc.collect()
    passes = reports = before = 0.0
    last: dict = {}
    for due in ticks:
        cpu0 = time.process_time()
        for ref in due:
            rec.run(ref, full=False)
        cpu1 = time.process_time()
        report(rec.states, {ref.id for ref in due})
        cpu2 = time.process_time()
        states = {rid: summary(rid, st) for rid, st in list(rec.states.items())}
        if states != last:  # before: every router's summary, every second
            last = states
        cpu3 = time.process_time()
        passes, reports, before = passes + cpu1 - cpu0, reports + cpu2 - cpu1, \
            before + cpu3 - cpu2
    if any(rec.state(ref).steps[-1].step != "Alive" for ref in w.refs):
        raise SystemExit("a router was not Alive")
    call = status_call_cpu(a.calls)
    http = call * n
    total = passes + http + reports
    print(f"{n} routers health-checked once a minute: orchestrator CPU per minute")
    print(f"  passes (observe, plan, execute; fakes): {passes:.3f} s")
    print(f"  status calls through the real client  : {http:.3f} s "
          f"({call * 1000:.3f} ms per call, a new connection each)")
    print(f"  reports to the parent                 : {reports:.3f} s "
          f"(before, every router every second: {before:.3f} s)")
    print(f"  total {total:.2f} s per minute = {total / 60 * 100:.2f}% of one core "
          f"(target <= 5% together with the appliance agent)")


if __name__ == "__main__":
    main()
