"""Ports of an instance, allocated and released through the network service's API.

``allocate`` turns ``networks: [{uuid}|{port}]`` into bound ports: a new port on a
network (device_owner ``compute:<az>``, device_id the server id) or an existing port
claimed the same way, then bound to the host. Everything is done as the caller (the
network API applies its own rules: a member sees and uses only what Neutron lets it);
only the host binding runs with the service's admin identity, once the port is known
to be the caller's. ``refusal`` is the pure check in between, as Nova words it: a port
the caller does not own is not found, a port with a device is in use, an external
network needs ``network:attach_external_network`` (admin). ``allocate`` deletes what it
created if a later port fails; ``release`` deletes the ports the compute service
created and unbinds the ones it was given, as Nova does (with the service's identity
when the caller cannot see a port an admin plugged into its server, or may not delete
a port the service made: then only a port the service reads as still this server's,
in its project). Ports are stored on the instance in a plain form, ``management``
saying whether the port is an appliance's management port (``is_management``): the
agent gives the host's management address and neighbour pins to those only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from astara.common import device_owners
from astara.compute_service.api import errors
from astara.compute_service.api.bodies import NetworkRequest
from astara.compute_service.api.context import Context
from astara.compute_service.api.network import Network, NetworkError

LOG = logging.getLogger(__name__)
T = TypeVar("T")
# network API calls one request makes at once (bodies.MAX_NETWORKS bounds the total)
MAX_PARALLEL = 8


def is_management(network: dict | None, project_id: str, management: str) -> bool:
    """Is a port on ``network`` (the network API's answer) the management port of a
    server of ``project_id``? ``management``: the configured management network's id or
    name ("": the server is no appliance). By name only when the server's project owns
    the network (the service project, which made it): a network's name and ``shared``
    are a tenant's to write, its owner is not, so a tenant's network called like the
    management one, made before or after it, never counts."""
    if not management or not network:
        return False
    if network.get("id") == management:
        return True
    owner = network.get("project_id") or network.get("tenant_id")
    return network.get("name") == management and bool(owner) and owner == project_id


def stored(port: dict, network_name: str, owned: bool,
           cidrs: dict[str, str | None] | None = None, management: bool = False) -> dict:
    fixed = []
    for ip in port.get("fixed_ips", []):
        entry = {"subnet_id": ip["subnet_id"], "ip_address": ip["ip_address"]}
        cidr = (cidrs or {}).get(ip["subnet_id"])
        if cidr:
            entry["prefixlen"] = int(cidr.rsplit("/", 1)[1])
        fixed.append(entry)
    return {"port_id": port["id"], "net_id": port["network_id"], "network_name": network_name,
            "mac_address": port.get("mac_address", ""), "status": port.get("status", "DOWN"),
            "fixed_ips": fixed, "owned": owned, "management": management,
            # what the host's anti-spoofing filter allows (absent: Neutron's default)
            "port_security_enabled": port.get("port_security_enabled", True),
            "allowed_address_pairs": [
                {"ip_address": p["ip_address"], "mac_address": p.get("mac_address")
                 or port.get("mac_address", "")}
                for p in port.get("allowed_address_pairs") or ()]}


def _cidrs(net: Network, caller: Context, port: dict) -> dict[str, str | None]:
    """Subnet id -> cidr of the port's fixed IPs (the backend needs prefix lengths)."""
    out: dict[str, str | None] = {}
    for ip in port.get("fixed_ips", []):
        if ip["subnet_id"] not in out:
            try:
                out[ip["subnet_id"]] = net.subnet_cidr(caller, ip["subnet_id"])
            except NetworkError:
                out[ip["subnet_id"]] = None
    return out


def _device(server_id: str, az: str) -> dict:
    return {"device_id": server_id, "device_owner": f"compute:{az}"}


def is_service_port(port: dict) -> bool:
    """A router's or appliance's own port (``network:*``, or a load balancer's VIP port
    owned ``Octavia``): plugged, never re-owned.

    An appliance instance carries its router's interface, gateway and management
    ports (a load balancer's VIP port); they keep the router (the load balancer) as
    their device so the network model stays right.
    """
    return device_owners.is_service_owner(str(port.get("device_owner", "")))


def _missing(kind: str, ident: str, attach: bool) -> errors.ComputeFault:
    """Nova's PortNotFound / NetworkNotFound: 400 on a server create, 404 on attach."""
    message = (f"Port id {ident} could not be found." if kind == "port"
               else f"Network {ident} could not be found.")
    return errors.NotFound(message) if attach else errors.BadRequest(message)


def port_refusal(caller: Context, port: dict | None, port_id: str,
                 attach: bool) -> errors.ComputeFault | None:
    """Why ``caller`` may not plug ``port`` (as the network API showed it), or None.

    The project is checked here too: Neutron shows a network's owner the ports others
    made on it, and those are not the owner's to plug.
    """
    if port is None or (not caller.is_admin and port.get("project_id") != caller.project_id):
        return _missing("port", port_id, attach)
    if is_service_port(port):  # only an admin (the orchestrator) plugs a router's ports
        return None if caller.is_admin else errors.Conflict(
            f"Port {port_id} is still in use.")
    if port.get("device_id"):
        return errors.Conflict(f"Port {port_id} is still in use.")
    return None


def network_refusal(caller: Context, network: dict | None, net_id: str,
                    attach: bool) -> errors.ComputeFault | None:
    """Why ``caller`` may not have an interface on ``network``, or None."""
    if network is None:
        return _missing("network", net_id, attach)
    if network.get("router:external") and not network.get("shared") and not caller.is_admin:
        # Nova's network:attach_external_network rule (admin only) and its fault.
        return errors.Forbidden("It is not allowed to create an interface on external "
                                f"network {net_id}")
    return None


def _checked(fault: errors.ComputeFault | None) -> None:
    if fault is not None:
        raise fault


def _bound(net: Network, port: dict, host: str) -> dict:
    try:
        return net.bind_port(port["id"], host)
    except NetworkError as exc:
        raise errors.ComputeFault(f"Unable to bind port {port['id']}: {exc}") from None


def _claimed(net: Network, caller: Context, port: dict, server_id: str, az: str,
             attach: bool) -> dict:
    """The caller's own port, now naming the server as its device (as the caller)."""
    try:
        return net.update_port(caller, port["id"], _device(server_id, az))
    except NetworkError as exc:
        if exc.status == 404:
            raise _missing("port", port["id"], attach) from None
        if exc.status == 409:
            raise errors.Conflict(f"Port {port['id']} is still in use.") from None
        raise errors.BadRequest(f"Port {port['id']} not usable for instance "
                                f"{server_id}.") from None


@dataclass(frozen=True)
class Seen:
    """What the network API showed the caller of the ports and networks a create asks
    for, read beforehand (``seen``); one it left out is read alone, as the caller, so
    the answer is always the network API's own for that caller."""

    ports: Mapping[str, dict] = field(default_factory=dict)
    networks: Mapping[str, dict] = field(default_factory=dict)

    def port(self, net: Network, caller: Context, port_id: str) -> dict | None:
        return self.ports.get(port_id) or net.get_port(caller, port_id)

    def network(self, net: Network, caller: Context, net_id: str) -> dict | None:
        return self.networks.get(net_id) or net.get_network(caller, net_id)


def seen(net: Network, caller: Context, wanted: tuple[NetworkRequest, ...]) -> Seen:
    """The ports asked for, then their networks and the networks asked for, each in one
    list call as the caller (instead of two reads in turn per port); a list refused (a
    network API without the ``id`` filter) leaves the reads to ``allocate_one``; an
    unreachable network service fails the create at once (each read would wait again)."""
    try:
        port_ids = [w.port_id for w in wanted if w.port_id]
        found = net.get_ports(caller, port_ids) if port_ids else {}
        net_ids = [w.net_id for w in wanted if w.net_id and not w.port_id] + \
            [p["network_id"] for p in found.values() if isinstance(p.get("network_id"), str)]
        return Seen(found, net.get_networks(caller, net_ids) if net_ids else {})
    except NetworkError as exc:
        LOG.debug("ports and networks read one by one: %s", exc)
        return Seen()


@dataclass(frozen=True)
class _Claim:
    """A port the server has (claimed or made for it), not bound yet."""

    port: dict
    network: dict | None
    service: bool  # a router's or appliance's own port: plugged, never re-owned
    owned: bool  # made for the server: deleted with it

    def given_back(self) -> dict:
        """What ``release`` needs to give it back."""
        return {"port_id": self.port["id"], **({"owned": True} if self.owned
                                                else {"service": self.service})}


def _claim(net: Network, caller: Context, project_id: str, server_id: str, az: str,
           want: NetworkRequest, attach: bool, known: Seen) -> _Claim:
    """The caller's port named by ``want``, now the server's (as the caller), or a new
    one on its network; not bound yet."""
    if want.port_id:
        found = known.port(net, caller, want.port_id)
        _checked(port_refusal(caller, found, want.port_id, attach))
        port: dict = found or {}
        network = known.network(net, caller, port["network_id"])
        _checked(network_refusal(caller, network, port["network_id"], attach))
        service = is_service_port(port)
        if not service:
            port = _claimed(net, caller, port, server_id, az, attach)
        return _Claim(port, network, service, owned=False)
    network = known.network(net, caller, want.net_id or "")
    _checked(network_refusal(caller, network, want.net_id or "", attach))
    net_id = (network or {})["id"]
    try:
        port = net.create_port(caller, net_id, {"project_id": project_id,
                                                **_device(server_id, az)})
    except NetworkError as exc:
        if exc.status == 404:
            raise _missing("network", net_id, attach) from None
        raise errors.BadRequest(f"Unable to create a port on network {net_id}: "
                                f"{exc}") from None
    return _Claim(port, network, service=False, owned=True)


def _stored(net: Network, caller: Context, claim: _Claim, port: dict, project_id: str,
            management: str) -> dict:
    """The bound ``port`` in the instance's stored form."""
    out = stored(port, (claim.network or {}).get("name", ""), owned=claim.owned,
                 cidrs=_cidrs(net, caller, port),
                 management=is_management(claim.network, project_id, management))
    return out if claim.owned else {**out, "service": claim.service}


def allocate_one(net: Network, caller: Context, project_id: str, server_id: str, host: str,
                 az: str, want: NetworkRequest, attach: bool = False,
                 management: str = "", known: Seen | None = None) -> dict:
    """One bound port for server ``server_id`` of ``project_id``, asked for by ``caller``;
    ``management``: the management network's id or name for an appliance, else "";
    ``known``: what ``seen`` read already."""
    claim = _claim(net, caller, project_id, server_id, az, want, attach, known or Seen())
    try:
        port = _bound(net, claim.port, host)
    except BaseException:
        release(net, caller, [claim.given_back()], server_id=server_id,
                project_id=project_id)
        raise
    return _stored(net, caller, claim, port, project_id, management)


def _apart(wanted: tuple[NetworkRequest, ...]) -> bool:
    """Can these requests be served at once? Not when one port is asked for twice
    (the second must see the first's claim and be refused as in use)."""
    ports = [w.port_id for w in wanted if w.port_id]
    return len(wanted) > 1 and len(ports) == len(set(ports))


def allocate(net: Network, caller: Context, project_id: str, server_id: str, host: str,
             az: str, wanted: tuple[NetworkRequest, ...], management: str = "") -> list[dict]:
    """The ports, in the order asked. Each is a few calls to the network API, so they
    are made side by side (an appliance has three); if one fails, the others are
    released and the first failure in order is raised, as one after the other would."""
    if not _apart(wanted):
        done: list[dict] = []
        try:
            for want in wanted:
                done.append(allocate_one(net, caller, project_id, server_id, host, az, want,
                                         management=management))
        except BaseException:
            release(net, caller, done, server_id=server_id, project_id=project_id)
            raise
        return done
    known = seen(net, caller, wanted)
    if net.binds_in_bulk():
        return _allocate_bulk(net, caller, project_id, server_id, host, az, wanted,
                              management, known)
    made, failure = _side_by_side(
        lambda want: allocate_one(net, caller, project_id, server_id, host, az, want, False,
                                  management, known), wanted)
    if failure is not None:
        release(net, caller, made, server_id=server_id, project_id=project_id)
        raise failure
    return made


def _side_by_side(call: Callable[[NetworkRequest], T], wanted: tuple[NetworkRequest, ...]
                  ) -> tuple[list[T], BaseException | None]:
    """``call`` of each request on a bounded pool: the answers of those that succeeded,
    in order, and the first failure in order (None if none failed). Submitting and
    collecting are both inside the try: if a thread cannot start, what the earlier ones
    made is still returned, to be given back."""
    done: list[T] = []
    failure: BaseException | None = None
    futures = []
    try:
        with ThreadPoolExecutor(min(len(wanted), MAX_PARALLEL),
                                thread_name_prefix="allocate") as pool:
            for want in wanted:
                futures.append(pool.submit(call, want))
    except BaseException as exc:
        failure = exc
    for future in futures:
        try:
            done.append(future.result())
        except BaseException as exc:
            failure = failure or exc
    return done, failure


def _allocate_bulk(net: Network, caller: Context, project_id: str, server_id: str,
                   host: str, az: str, wanted: tuple[NetworkRequest, ...], management: str,
                   known: Seen) -> list[dict]:
    """``allocate`` against a network API that binds several ports in one call: each
    port claimed (or made) side by side as the caller, then all bound at once as the
    service (one transaction where three waited their turn on the database)."""
    claims, failure = _side_by_side(
        lambda want: _claim(net, caller, project_id, server_id, az, want, False, known),
        wanted)
    try:
        if failure is not None:
            raise failure
        try:
            bound = net.bind_ports([c.port["id"] for c in claims], host)
        except NetworkError as exc:
            raise errors.ComputeFault(f"Unable to bind ports "
                                      f"{', '.join(c.port['id'] for c in claims)}: "
                                      f"{exc}") from None
        missing = [c.port["id"] for c in claims if c.port["id"] not in bound]
        if missing:
            raise errors.ComputeFault(f"Unable to bind port {missing[0]}: not in the "
                                      "network service's answer")
        return [_stored(net, caller, c, bound[c.port["id"]], project_id, management)
                for c in claims]
    except BaseException:
        release(net, caller, [c.given_back() for c in claims], server_id=server_id,
                project_id=project_id)
        raise


def made_for(port: dict, server_id: str, project_id: str) -> bool:
    """Is ``port`` (as the service reads it now) still this server's, in the server's
    project? Only then does the service delete it for a caller Neutron refused: the
    port named on the instance may come from a host's event, or have been moved to
    another device since, and such a port stays where it is (as Nova leaves it)."""
    return port.get("device_id") == server_id and port.get("project_id") == project_id


def _delete_as_service(net: Network, port_id: str, server_id: str, project_id: str) -> None:
    current = net.get_port_as_service(port_id)
    if current is None:
        return  # gone already: released
    if not made_for(current, server_id, project_id):
        LOG.warning("port %s left in place: its device is %r of project %r, not server %s "
                    "of project %s", port_id, current.get("device_id"),
                    current.get("project_id"), server_id, project_id)
        return
    net.delete_port_as_service(port_id)


def _release_one(net: Network, caller: Context, port: dict, server_id: str,
                 project_id: str) -> None:
    if port.get("owned"):
        try:
            net.delete_port(caller, port["port_id"])
        except NetworkError as exc:
            if exc.status != 403:
                raise
            # Neutron (2025.1 on) lets a member delete no compute:* port unless the call
            # carries the service role (Nova's service token): the service deletes the
            # port it made for this server, once it has read that the port still is.
            _delete_as_service(net, port["port_id"], server_id, project_id)
        return
    if not port.get("service"):
        try:
            net.update_port(caller, port["port_id"], {"device_id": "", "device_owner": ""})
        except NetworkError as exc:
            if exc.status != 404:
                raise
            # an admin plugged another project's port into this server: the server
            # held it, so the service gives it back (Nova unbinds with its credentials)
            net.unclaim_port(port["port_id"])
    try:
        net.bind_port(port["port_id"], "")
    except NetworkError as exc:
        if exc.status != 404:
            raise
        # gone already (a router's ports go with the router): nothing to give back


def unjoined(attachments: list[tuple[str, dict]], known: set[str]) -> list[dict]:
    """The ports os-interface attached to or detached from a server that its record does
    not list: an attach whose event has not landed or that failed on the host, a detach
    whose release failed. ``attachments``: the server's attach and detach jobs, oldest
    first, as (op, stored port); each port once, in its newest stored form. Only
    candidates: a delete gives back those the network still shows on this server
    (``still_here``), never one since moved to another device."""
    last: dict[str, dict] = {}
    for _op, port in attachments:
        if isinstance(port, dict) and isinstance(port.get("port_id"), str):
            last.pop(port["port_id"], None)
            last[port["port_id"]] = port
    return [port for port_id, port in last.items() if port_id not in known]


def still_here(net: Network, candidates: list[dict], server_id: str) -> list[dict]:
    """``candidates`` whose port the service reads as still plugged into ``server_id``
    (its device): Nova gives back on delete only the ports whose device is the server.
    A port gone, moved to another server, or a router's port (its device is the router)
    stays as it is."""
    kept = []
    for port in candidates:
        try:
            current = net.get_port_as_service(port["port_id"])
        except NetworkError as exc:
            LOG.warning("port %s not given back with server %s: could not read it: %s",
                        port["port_id"], server_id, exc)
            continue
        if current is not None and current.get("device_id") == server_id:
            kept.append(port)
    return kept


def release(net: Network, caller: Context, ports: list[dict], *, server_id: str,
            project_id: str) -> None:
    """Give back ``ports`` of server ``server_id`` (of ``project_id``) as ``caller`` (the
    server's owner or an admin) would."""
    for port in ports:
        try:
            _release_one(net, caller, port, server_id, project_id)
        except NetworkError as exc:
            LOG.warning("could not release port %s: %s", port["port_id"], exc)
