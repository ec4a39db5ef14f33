"""Host mode: one agent process serving every appliance namespace on a host.

The compute agent (or a test) calls `add()` when it has plugged an appliance's
management port: the agent brings that interface up with its address, then opens
the REST API socket and the metadata proxy socket *inside* the namespace and
serves them from this process's event loop. Connections are routed to their
appliance by the local address they arrived on (management addresses are unique).
VM mode is the same with `netns=None`. `remove()` stops serving and cleans up.
`discovery` calls `add()`/`remove()` as appliance namespaces come and go.
`secret_for(name)` gives the secret the orchestrator must present to appliance
`name` (see `wire.auth`); the API refuses any other caller. Changes to each served
appliance's links, addresses and nftables, heard on the host's two shared netlink
sockets (`wake.AllNamespaces`, told apart by the namespace's id; a socket of its
own in its namespace where there is no id, or in VM mode), and a pidfd per dnsmasq
or haproxy process, watched by the event loop, mark its kept status answer stale
(`status.Cache`), so a health check costs no observation while nothing changes.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from astara.appliance import high_fds, wake
from astara.appliance.api import SCOPE_KEY, Served, cached_status, make_app
from astara.appliance.apply.announce import Announcer
from astara.appliance.apply.dnsmasq import DnsmasqProcess
from astara.appliance.apply.ha_process import HaProcesses
from astara.appliance.apply.haproxy_process import HaproxyProcess
from astara.appliance.apply.netlink import IPRouteNetlink
from astara.appliance.apply.netns import entered
from astara.appliance.apply.nft import make_nft
from astara.appliance.converge import Appliance, Ports
from astara.appliance.metadata import MetadataProxy
from astara.appliance.observe import interface
from astara.appliance.plan.ops import AddAddress, SetLink
from astara.appliance.render.nft import METADATA_PROXY_PORT
from astara.common import private

LOG = logging.getLogger(__name__)
IP_FREEBIND = 15
ANNOUNCER = Announcer()  # one timer thread (started by the first use) for every appliance


@dataclass
class _Entry:
    served: Served
    servers: list[asyncio.AbstractServer]
    address: str
    signals: list[socket.socket] = field(default_factory=list)  # netlink: stack changed
    nsid: int | None = None  # heard on the shared sockets under this id instead
    pidfds: dict[int, int] = field(default_factory=dict)  # dnsmasq pid → fd: it exited


def subscribe_changes(netns: str | None) -> list[socket.socket]:
    """Sockets of `netns` readable when its links, addresses or nftables change."""
    socks = [wake.subscribe(netns, wake.NETLINK_ROUTE, wake.ROUTE_GROUPS)]
    try:
        socks.append(wake.subscribe(netns, wake.NETLINK_NETFILTER, wake.NFTABLES_GROUP))
    except BaseException:
        socks[0].close()
        raise
    return socks


def real_ports(state_dir: Path) -> Ports:
    return Ports(netlink=IPRouteNetlink, nft=make_nft(state_dir), dnsmasq=DnsmasqProcess(),
                 haproxy=HaproxyProcess(), announce=ANNOUNCER, ha=HaProcesses())


def bootstrap_management(mac: str, address: str) -> None:
    """Bring the management interface up with its address (current namespace)."""
    netlink = IPRouteNetlink()
    try:
        link = netlink.observe().link_by_mac(mac)
        if link is None:
            raise LookupError(f"no management interface with MAC {mac}")
        netlink.run([SetLink(link.ifname, link.mtu, True, link.mtu, link.up),
                     AddAddress(link.ifname, address)], [])
    finally:
        netlink.close()


def _listen(family: int, address: str, port: int) -> socket.socket:
    """A listening socket in the current thread's namespace."""
    # TCP named: asyncio then sets TCP_NODELAY (no 40 ms stalls)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        sock.bind((address, port))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return high_fds.lift(sock)


Signals = list[socket.socket] | int | OSError


def _set_up(appliance: Appliance, mgmt_mac: str, mgmt_cidr: str, family: int,
            api_port: int, shared: bool) -> tuple[list[socket.socket], Signals]:
    """In the appliance's namespace (a worker thread): bring the management interface
    up, take over the recorded document if it still holds, open the API and metadata
    proxy sockets; then how its changes are heard: with `shared` (the host's sockets
    are open) the namespace's id, else (or if it has none) subscriptions of its own,
    or the OSError saying why there are none."""
    signals: Signals | None = None
    if shared and appliance.netns is not None:
        try:
            signals = wake.nsid(appliance.netns)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise  # not mounted yet: the add is tried again soon (`discovery`)
            LOG.warning("appliance in %s: no namespace id (%s): it gets its own change "
                        "subscriptions", appliance.netns, exc)
    with entered(appliance.netns):
        if not interface.ready(mgmt_mac, mgmt_cidr):  # else no netlink dump needed
            bootstrap_management(mgmt_mac, mgmt_cidr)
        appliance.restore()
        listening = [_listen(family, str(ipaddress.ip_interface(mgmt_cidr).ip), api_port)]
        try:
            listening.append(_listen(socket.AF_INET, "0.0.0.0", METADATA_PROXY_PORT))
        except BaseException:
            listening[0].close()
            raise
        if signals is None:
            try:
                signals = subscribe_changes(None)
            except OSError as exc:
                signals = exc
    return listening, signals


class Host:
    def __init__(self, state_root: Path, secret_for: Callable[[str], str],
                 api_port: int = 5000,
                 on_removed: Callable[[], None] | None = None) -> None:
        self.state_root, self.api_port = state_root, api_port
        self.secret_for = secret_for
        self._on_removed = on_removed  # `collector.Collector.removed_one`
        self.entries: dict[str, _Entry] = {}
        self._by_address: dict[str, Served] = {}
        self._config = uvicorn.Config(self._dispatch, interface="asgi3", lifespan="off",
                                      access_log=False, log_level="warning",
                                      proxy_headers=False)
        self._config.load()
        self._server_state = ServerState()
        self._app = make_app()
        # The shared change sockets (opened at the first namespace served) and who is
        # heard on them, by namespace id.
        self._shared: list[wake.AllNamespaces] | None = None
        self._by_nsid: dict[int, _Entry] = {}

    async def _dispatch(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        served = self._by_address.get(scope["server"][0]) if scope.get("server") else None
        if served is None:
            body = b'{"error": "no appliance at this address"}'
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        if (body := cached_status(scope, served)) is not None:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self._app({**scope, SCOPE_KEY: served}, receive, send)

    async def add(self, name: str, netns: str | None, mgmt_mac: str, mgmt_address: str) -> None:
        iface = ipaddress.ip_interface(mgmt_address)
        state_dir = self.state_root / name
        state_dir.mkdir(parents=True, exist_ok=True)
        state_dir.chmod(0o711)  # dnsmasq, unprivileged, reaches its files; no listing
        # What an older release left readable; the files dnsmasq re-reads are handed
        # to its user at the next apply (`apply.files`).
        private.tighten(*(p for p in state_dir.iterdir()
                          if p.suffix not in (".hosts", ".opts", ".addn_hosts")))

        appliance = Appliance(name, netns, state_dir, self.api_port, real_ports(state_dir))
        family = socket.AF_INET6 if iface.version == 6 else socket.AF_INET
        # One worker thread and one entry into the namespace for all of it: the
        # management interface, what an earlier agent applied (if still valid), then
        # the sockets, so no status is answered before the record is judged.
        listening, signals = await asyncio.to_thread(
            _set_up, appliance, mgmt_mac, str(iface), family, self.api_port,
            netns is not None and self._share())
        loop = asyncio.get_running_loop()
        servers: list[asyncio.AbstractServer] = []
        try:  # a half-served appliance would hold its ports: all or nothing
            served = Served(appliance, self.secret_for(name))
            proxy = MetadataProxy(lambda fam: self._socket_in(netns, fam),
                                  lambda: self._metadata_target(appliance))
            api_sock, md_sock = listening
            servers.append(await loop.create_server(
                lambda: H11Protocol(self._config, self._server_state, {}), sock=api_sock))
            servers.append(await asyncio.start_server(proxy.handle, sock=md_sock))
        except BaseException:
            for server in servers:
                server.close()
            for sock in [*listening, *(signals if isinstance(signals, list) else [])]:
                sock.close()
            raise
        entry = _Entry(served, servers, str(iface.ip))
        self._watch_changes(entry, netns, signals)
        self.entries[name] = entry
        self._by_address[str(iface.ip)] = served

    def _share(self) -> bool:
        """Are the host's shared change sockets open (opened now if not yet)?"""
        if self._shared is None:
            socks: list[wake.AllNamespaces] = []
            try:
                socks.append(wake.AllNamespaces(wake.NETLINK_ROUTE, wake.ROUTE_GROUPS))
                socks.append(wake.AllNamespaces(wake.NETLINK_NETFILTER,
                                                wake.NFTABLES_GROUP))
            except OSError as exc:
                for sock in socks:
                    sock.close()
                LOG.warning("no shared change notifications (%s): a socket of each "
                            "appliance's own", exc)
                self._shared = []
                return False
            loop = asyncio.get_running_loop()
            for sock in socks:
                loop.add_reader(sock.fileno(), self._on_heard, sock)
            self._shared = socks
        return bool(self._shared)

    def _on_heard(self, sock: wake.AllNamespaces) -> None:
        nsids = sock.heard()
        if nsids is None:  # some were lost: any of them may have changed
            entries = list(self._by_nsid.values())
        else:
            entries = [e for nsid in nsids if (e := self._by_nsid.get(nsid)) is not None]
        for entry in entries:
            self._on_change(entry.served)

    def _watch_changes(self, entry: _Entry, netns: str | None, signals: Signals) -> None:
        """Mark the kept status answer stale on every change the kernel reports;
        without these subscriptions (`signals` is why not), no answer is kept."""
        if isinstance(signals, OSError):
            LOG.warning("appliance in %s: no change notifications (%s): every status "
                        "call observes afresh", netns, signals)
            return
        if isinstance(signals, int):
            entry.nsid = signals
            self._by_nsid[signals] = entry  # a reused id: the namespace gone has no entry
        else:
            entry.signals = signals
            loop = asyncio.get_running_loop()
            for sock in entry.signals:
                loop.add_reader(sock.fileno(), self._on_signal, sock, entry.served)
        entry.served.status.watched = True
        entry.served.appliance.pins_watched = True
        entry.served.watch = lambda pids: self._watch_pids(entry, pids)

    @classmethod
    def _on_signal(cls, sock: socket.socket, served: Served) -> None:
        wake.drain(sock)
        cls._on_change(served)

    @staticmethod
    def _on_change(served: Served) -> None:
        served.status.changed()
        served.appliance.pins_unsure = True  # a link set down loses its pins

    def _watch_pids(self, entry: _Entry, pids: list[int]) -> None:
        if self._by_address.get(entry.address) is not entry.served:
            return  # removed while its status was observed: nothing would close them
        loop = asyncio.get_running_loop()
        for pid in pids:
            if pid in entry.pidfds:
                continue
            try:
                fd = wake.pidfd(pid)
            except OSError:  # exited already: what was just observed is stale
                entry.served.status.changed()
                continue
            entry.pidfds[pid] = fd
            loop.add_reader(fd, self._on_exit, entry, pid)

    @staticmethod
    def _on_exit(entry: _Entry, pid: int) -> None:
        fd = entry.pidfds.pop(pid)
        asyncio.get_running_loop().remove_reader(fd)
        os.close(fd)
        entry.served.status.changed()

    def _unwatch(self, entry: _Entry) -> None:
        if entry.nsid is not None and self._by_nsid.get(entry.nsid) is entry:
            del self._by_nsid[entry.nsid]
        loop = asyncio.get_running_loop()
        for sock in entry.signals:
            loop.remove_reader(sock.fileno())
            sock.close()
        for fd in entry.pidfds.values():
            loop.remove_reader(fd)
            os.close(fd)
        entry.signals, entry.pidfds = [], {}

    @staticmethod
    def _socket_in(netns: str | None, family: int) -> socket.socket:
        with entered(netns):
            return socket.socket(family, socket.SOCK_STREAM)

    @staticmethod
    def _metadata_target(appliance: Appliance) -> tuple[str, int, str, str] | None:
        config = appliance.config
        if config is None:
            return None
        o = config.orchestrator
        return (str(o.address), o.metadata_port, config.hostname, config.tenant_id)

    async def remove(self, name: str, teardown: bool = True) -> None:
        """Stop serving `name`; with `teardown`, also stop its dnsmasq and haproxy and
        remove its files. Without (agent shutdown), the appliance keeps forwarding,
        serving DHCP and balancing, and a restarted agent takes its processes over."""
        entry = self.entries.pop(name, None)
        if entry is None:
            return
        self._by_address.pop(entry.address, None)
        self._unwatch(entry)
        for server in entry.servers:
            server.close()
        async with entry.served.lock:
            if teardown:
                await asyncio.to_thread(entry.served.appliance.teardown)
        for server in entry.servers:
            await server.wait_closed()
        if self._on_removed is not None:
            self._on_removed()

    async def close(self, teardown: bool = True) -> None:
        for name in list(self.entries):
            await self.remove(name, teardown)
        loop = asyncio.get_running_loop()
        for sock in self._shared or ():
            loop.remove_reader(sock.fileno())
            sock.close()
        self._shared = None
