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


class _Heard:
    """A shared change socket that reports the namespace ids given."""

    def __init__(self, nsids: set[int] | None) -> None:
        self.nsids = nsids

    def heard(self) -> set[int] | None:
        return self.nsids


def _served_under(host: Host, appliance, nsid: int, address: str) -> _Entry:
    entry = _Entry(Served(appliance, "secret"), [], address)
    asyncio.run(_watch(host, entry, nsid))
    return entry


async def _watch(host: Host, entry: _Entry, nsid: int) -> None:
    host._watch_changes(entry, "ns", nsid)


def test_a_change_heard_on_the_shared_socket_makes_only_its_namespace_stale(
        tmp_path, appliance):
    host = Host(tmp_path, lambda name: "secret")
    one = _served_under(host, appliance, 4, "fdca::2")
    other = _served_under(host, appliance, 7, "fdca::3")
    assert one.served.status.watched and one.signals == []  # no socket of its own
    marks = (one.served.status.mark(appliance), other.served.status.mark(appliance))
    host._on_heard(_Heard({4, 99}))  # 99: a namespace nobody serves
    assert one.served.status.mark(appliance)[0] == marks[0][0] + 1
    assert other.served.status.mark(appliance)[0] == marks[1][0]
    assert appliance.pins_unsure


def test_lost_messages_make_every_namespace_heard_on_the_shared_socket_stale(
        tmp_path, appliance):
    host = Host(tmp_path, lambda name: "secret")
    entries = [_served_under(host, appliance, n, f"fdca::{n}") for n in (1, 2)]
    before = [e.served.status.mark(appliance)[0] for e in entries]
    host._on_heard(_Heard(None))  # ENOBUFS
    assert [e.served.status.mark(appliance)[0] for e in entries] == [b + 1 for b in before]


def test_a_namespace_gone_does_not_unhear_a_new_one_given_its_id(tmp_path, appliance):
    host = Host(tmp_path, lambda name: "secret")
    old = _served_under(host, appliance, 5, "fdca::2")
    new = _served_under(host, appliance, 5, "fdca::3")  # the kernel reused the id

    async def main():
        host._unwatch(old)

    asyncio.run(main())
    before = new.served.status.mark(appliance)[0]
    host._on_heard(_Heard({5}))
    assert new.served.status.mark(appliance)[0] == before + 1

    async def drop():
        host._unwatch(new)

    asyncio.run(drop())
    assert host._by_nsid == {}
