"""Host-mode discovery against a fake host, and the CLI's argument handling."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from astara.appliance import cli
from astara.appliance.discovery import Settings, Watcher, eui64


class FakeHost:
    api_port = 5000

    def __init__(self):
        self.entries: dict[str, tuple] = {}
        self.log: list[tuple] = []

    async def add(self, name, netns, mac, address):
        self.entries[name] = (netns, mac, address)
        self.log.append(("add", name, address))

    async def remove(self, name, teardown=True):
        del self.entries[name]
        self.log.append(("remove", name))


def no_subscription(netns):
    raise OSError(1, "no netlink in a unit test")  # the bounded retries take over


def test_eui64_address_in_the_management_prefix():
    prefix = ipaddress.IPv6Network("fdca:3ba5:a17a:acda::/64")
    assert eui64(prefix, "fa:16:3e:00:00:01") == "fdca:3ba5:a17a:acda:f816:3eff:fe00:1/64"


def test_watcher_follows_namespaces_and_retries_those_not_ready():
    present: set[str] = set()
    ready: dict[str, tuple[str, str]] = {}
    host = FakeHost()
    watcher = Watcher(host, Settings(), namespaces=lambda prefix: set(present),
                      find_management=lambda netns, settings: ready.get(netns),
                      subscribe=no_subscription)

    present |= {"astara-appliance-a", "astara-appliance-b"}
    ready["astara-appliance-a"] = ("fa:16:3e:00:00:01", "fdca::2/64")
    asyncio.run(watcher.scan())
    assert host.log == [("add", "astara-appliance-a", "fdca::2/64")]

    ready["astara-appliance-b"] = ("fa:16:3e:00:00:02", "fdca::3/64")  # its port is plugged
    present.discard("astara-appliance-a")
    asyncio.run(watcher.scan())
    assert host.log[1:] == [("remove", "astara-appliance-a"),
                            ("add", "astara-appliance-b", "fdca::3/64")]
    assert set(host.entries) == {"astara-appliance-b"}
    asyncio.run(watcher.scan())
    assert len(host.log) == 3  # nothing new


def test_watcher_keeps_scanning_when_a_namespace_vanishes_while_added():
    looked: list[str] = []

    def gone(netns, settings):
        looked.append(netns)
        raise FileNotFoundError(2, "No such file or directory")

    host = FakeHost()
    watcher = Watcher(host, Settings(), namespaces=lambda prefix: {"astara-appliance-x"},
                      find_management=gone, subscribe=no_subscription)
    asyncio.run(watcher.scan())
    asyncio.run(watcher.scan())  # still scanning: the vanished namespace is tried again
    assert host.entries == {} and looked == ["astara-appliance-x"] * 2


class FlakyHost(FakeHost):
    """A host whose add of `fails` and remove of `breaks` raise once, as a failing
    command (CommandFailed, a RuntimeError) does."""

    def __init__(self, fails=(), breaks=()):
        super().__init__()
        self.fails, self.breaks = set(fails), set(breaks)

    async def add(self, name, netns, mac, address):
        if name in self.fails:
            self.fails.discard(name)
            raise RuntimeError(f"nft failed for {name}")
        await super().add(name, netns, mac, address)

    async def remove(self, name, teardown=True):
        await super().remove(name, teardown)
        if name in self.breaks:
            self.breaks.discard(name)
            raise RuntimeError(f"teardown failed for {name}")


def test_a_failing_add_or_remove_does_not_stop_the_others():
    present = {"astara-appliance-a", "astara-appliance-b"}
    ready = {n: ("fa:16:3e:00:00:01", "fdca::2/64") for n in present | {"astara-appliance-c"}}
    host = FlakyHost(fails={"astara-appliance-a"}, breaks={"astara-appliance-b"})
    watcher = Watcher(host, Settings(), namespaces=lambda prefix: set(present),
                      find_management=lambda netns, settings: ready.get(netns),
                      subscribe=no_subscription, retry_delays=())

    async def main():
        await watcher.scan()
        assert set(host.entries) == {"astara-appliance-b"}  # a failed, b served anyway
        present.discard("astara-appliance-b")
        present.add("astara-appliance-c")
        await watcher.scan()  # b's teardown fails: a (tried again) and c are served
        assert set(host.entries) == {"astara-appliance-a", "astara-appliance-c"}

    asyncio.run(main())


def test_cli_arguments():
    args = cli.parser().parse_args(["--mode", "host", "--state-dir", "/tmp/x",
                                    "--mgmt-prefix", "fdca::/64"])
    assert args.mode == "host" and str(args.state_dir) == "/tmp/x"
    assert args.netns_prefix == "astara-appliance-" and args.mgmt_ifname == "eth0"
    assert args.mgmt_prefix == ipaddress.IPv6Network("fdca::/64") and args.api_port == 5000


# Waking up: the directory watch and a namespace's netlink subscription, no scan --------
HOUR = 3600.0  # the safety-net scan never comes during these tests
RETRIES = (0.002, 0.005, 0.01, 0.02, 0.05)


async def until(check, what: str, timeout: float = 5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


class Lab:
    """A watched directory standing for /run/netns, management per namespace, and a
    socket pair per subscription (writing to `signal[name]` is "a link changed")."""

    def __init__(self, directory):
        self.directory = directory
        self.ready: dict[str, tuple[str, str]] = {}
        self.signal: dict[str, socket.socket] = {}
        self.host = FakeHost()
        self.looks: dict[str, int] = {}

    def namespaces(self, prefix):
        return {p.name for p in self.directory.iterdir() if p.name.startswith(prefix)}

    def management(self, netns, settings):
        self.looks[netns] = self.looks.get(netns, 0) + 1
        if netns not in self.ready and (self.directory / netns).read_text() == "unmounted":
            raise OSError(22, "Invalid argument")  # setns on a file not mounted yet
        return self.ready.get(netns)

    def subscribe(self, netns):
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        self.signal[netns] = theirs
        return ours

    def watcher(self) -> Watcher:
        self.current = Watcher(self.host, Settings(interval=HOUR), namespaces=self.namespaces,
                               find_management=self.management,
                               directory=str(self.directory), subscribe=self.subscribe,
                               retry_delays=RETRIES)
        return self.current


def running(lab: Lab, body):
    async def main():
        stop = asyncio.Event()
        task = asyncio.create_task(lab.watcher().run(stop))
        await until(lambda: lab.looks.get("astara-appliance-0"), "the first scan")
        try:
            await body()
        finally:
            stop.set()
            await task
    asyncio.run(main())


def test_a_new_namespace_is_served_at_once_and_a_gone_one_dropped(tmp_path):
    lab = Lab(tmp_path)
    (tmp_path / "astara-appliance-0").write_text("")  # found by the first scan
    lab.ready["astara-appliance-0"] = ("fa:16:3e:00:00:09", "fdca::9/64")

    async def body():
        lab.ready["astara-appliance-1"] = ("fa:16:3e:00:00:01", "fdca::2/64")
        (tmp_path / "astara-appliance-1").write_text("")
        (tmp_path / "not-an-appliance").write_text("")
        await until(lambda: "astara-appliance-1" in lab.host.entries, "the new namespace")
        (tmp_path / "astara-appliance-1").unlink()
        await until(lambda: "astara-appliance-1" not in lab.host.entries, "its removal")
        assert "not-an-appliance" not in lab.looks

    running(lab, body)


def test_a_namespace_waiting_for_its_address_is_served_when_netlink_says_so(tmp_path):
    lab = Lab(tmp_path)
    (tmp_path / "astara-appliance-0").write_text("")

    async def body():
        # Subscribed, then looked at once more (a change meanwhile is not lost): only
        # once that look has ended is the watcher waiting on the signal alone.
        await until(lambda: "astara-appliance-0" in lab.current._waiting, "the wait")
        looks = lab.looks["astara-appliance-0"]
        lab.ready["astara-appliance-0"] = ("fa:16:3e:00:00:01", "fdca::2/64")
        lab.signal["astara-appliance-0"].send(b"RTM_NEWADDR")
        await until(lambda: "astara-appliance-0" in lab.host.entries, "the address event")
        assert lab.looks["astara-appliance-0"] == looks + 1

    running(lab, body)


def test_a_namespace_not_mounted_yet_is_tried_again_within_milliseconds(tmp_path):
    lab = Lab(tmp_path)
    (tmp_path / "astara-appliance-0").write_text("")
    lab.ready["astara-appliance-0"] = ("fa:16:3e:00:00:09", "fdca::9/64")

    async def body():
        (tmp_path / "astara-appliance-1").write_text("unmounted")  # `ip netns add` midway
        await until(lambda: lab.looks.get("astara-appliance-1"), "a first look")
        lab.ready["astara-appliance-1"] = ("fa:16:3e:00:00:01", "fdca::2/64")  # mounted
        await until(lambda: "astara-appliance-1" in lab.host.entries, "a retry", timeout=1)

    running(lab, body)


def test_the_worker_survives_an_add_that_fails(tmp_path):
    lab = Lab(tmp_path)
    lab.host = FlakyHost(fails={"astara-appliance-1"})
    (tmp_path / "astara-appliance-0").write_text("")
    lab.ready["astara-appliance-0"] = ("fa:16:3e:00:00:09", "fdca::9/64")

    async def body():
        lab.ready["astara-appliance-1"] = ("fa:16:3e:00:00:01", "fdca::2/64")
        lab.ready["astara-appliance-2"] = ("fa:16:3e:00:00:02", "fdca::3/64")
        (tmp_path / "astara-appliance-1").write_text("")  # its add raises RuntimeError
        await until(lambda: not lab.host.fails, "the failing add")
        (tmp_path / "astara-appliance-2").write_text("")  # the next one is still served
        await until(lambda: "astara-appliance-2" in lab.host.entries, "the next namespace")
        await until(lambda: "astara-appliance-1" in lab.host.entries, "the retry")

    running(lab, body)


def test_retries_of_a_namespace_that_never_becomes_one_are_bounded(tmp_path):
    lab = Lab(tmp_path)
    (tmp_path / "astara-appliance-0").write_text("unmounted")

    async def body():
        await until(lambda: lab.looks["astara-appliance-0"] > len(RETRIES), "the retries")
        await asyncio.sleep(sum(RETRIES))  # none comes after the last one
        assert lab.looks["astara-appliance-0"] == len(RETRIES) + 1

    running(lab, body)
