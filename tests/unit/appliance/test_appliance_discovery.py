"""Host-mode discovery against a fake host, and the CLI's argument handling."""

from __future__ import annotations

import asyncio
import ipaddress

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


def test_eui64_address_in_the_management_prefix():
    prefix = ipaddress.IPv6Network("fdca:3ba5:a17a:acda::/64")
    assert eui64(prefix, "fa:16:3e:00:00:01") == "fdca:3ba5:a17a:acda:f816:3eff:fe00:1/64"


def test_watcher_follows_namespaces_and_retries_those_not_ready():
    present: set[str] = set()
    ready: dict[str, tuple[str, str]] = {}
    host = FakeHost()
    watcher = Watcher(host, Settings(), namespaces=lambda prefix: set(present),
                      find_management=lambda netns, settings: ready.get(netns))

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
                      find_management=gone)
    asyncio.run(watcher.scan())
    asyncio.run(watcher.scan())  # still scanning: the vanished namespace is tried again
    assert host.entries == {} and looked == ["astara-appliance-x"] * 2


def test_cli_arguments():
    args = cli.parser().parse_args(["--mode", "host", "--state-dir", "/tmp/x",
                                    "--mgmt-prefix", "fdca::/64"])
    assert args.mode == "host" and str(args.state_dir) == "/tmp/x"
    assert args.netns_prefix == "astara-appliance-" and args.mgmt_ifname == "eth0"
    assert args.mgmt_prefix == ipaddress.IPv6Network("fdca::/64") and args.api_port == 5000
