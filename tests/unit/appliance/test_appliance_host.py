"""The host's bookkeeping of an appliance's dnsmasq pids, against a fake-backed appliance."""

from __future__ import annotations

import asyncio
import os

from astara.appliance.api import Served
from astara.appliance.host import Host, _Entry


def test_pids_observed_after_a_removal_are_not_watched(tmp_path, appliance):
    host = Host(tmp_path, lambda name: "secret")
    current = _Entry(Served(appliance, "secret"), [], "fdca::2")
    gone = _Entry(Served(appliance, "secret"), [], "fdca::3")  # Host.remove ran meanwhile
    host.entries["r1"], host._by_address["fdca::2"] = current, current.served

    async def main():
        try:
            host._watch_pids(gone, [os.getpid()])
            host._watch_pids(current, [os.getpid()])
            assert gone.pidfds == {} and list(current.pidfds) == [os.getpid()]
        finally:
            for entry in (gone, current):
                host._unwatch(entry)

    asyncio.run(main())


def test_each_appliance_no_longer_served_is_reported_once(tmp_path, appliance):
    removed = []
    host = Host(tmp_path, lambda name: "secret", on_removed=lambda: removed.append(1))
    entry = _Entry(Served(appliance, "secret"), [], "fdca::2")
    host.entries["r1"], host._by_address["fdca::2"] = entry, entry.served

    async def main():
        await host.remove("r1", teardown=False)
        await host.remove("r1", teardown=False)  # gone already: nothing to report
    asyncio.run(main())
    assert removed == [1] and host.entries == {}
