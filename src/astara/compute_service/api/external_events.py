"""Nova's server external events (``POST /v2.1/os-server-external-events``), pure.

The network service tells the compute service that something happened to a server's
port (``network-vif-plugged``: the port is wired and its DHCP can answer). ``parse``
validates the body as Nova's JSON schema for the microversion does (names added at
2.51, 2.76, 2.82, 2.93; messages worded as jsonschema words them), ``decide`` gives
each event its code (200 accepted, 404 no such live server, 422 a server on no host,
400 a tag the event needs is missing) and the answer's status (200, 207 mixed, 404
when none was accepted), and ``links_up`` says which servers' agents are told a link
came up. The handler checks ``allowed`` after the body (Nova validates first).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from astara.compute_service.api import errors

Version = tuple[int, int]

POLICY = "os_compute_api:os-server-external-events:create"
# (first microversion, names it adds), as Nova's schemas grow
NAMES_SINCE: tuple[tuple[Version, tuple[str, ...]], ...] = (
    ((2, 1), ("network-changed", "network-vif-plugged", "network-vif-unplugged",
              "network-vif-deleted")),
    ((2, 51), ("volume-extended",)),
    ((2, 76), ("power-update",)),
    ((2, 82), ("accelerator-request-bound",)),
    ((2, 93), ("volume-reimaged",)),
)
STATUSES = ("failed", "completed", "in-progress")
TAG_REQUIRED = frozenset({"volume-extended", "volume-reimaged"})
MAX_TAG = 255
FIELDS = ("server_uuid", "name", "status", "tag")
# admin in the legacy policy; "service" is the role newer Nova defaults ask of Neutron
ROLES = frozenset({"admin", "service"})
PLUGGED = "network-vif-plugged"
NONE_FOUND = "No instances found for any event"


@dataclass(frozen=True)
class Event:
    server_uuid: str  # canonical (lower case, dashed): the form instance ids are stored in
    name: str
    status: str
    tag: str | None
    sent: dict  # the event as the caller sent it, echoed back with its code


@dataclass(frozen=True)
class Outcome:
    events: list[dict]  # each event as sent, with ``code`` and ``status``
    status: int  # 200 all accepted, 207 some, 404 none (then a fault, not ``events``)
    accepted: tuple[Event, ...]


def names(version: Version) -> list[str]:
    return [name for since, added in NAMES_SINCE if version >= since for name in added]


def allowed(roles: Iterable[str]) -> bool:
    return bool(ROLES.intersection(roles))


def forbidden() -> errors.Forbidden:
    return errors.Forbidden(f"Policy doesn't allow {POLICY} to be performed.")


def _r(value: Any) -> str:
    """A value as jsonschema names it in a message (``repr``, cut short)."""
    return errors.shown(repr(value)) if isinstance(value, str) else errors.shown(value)


def _type(value: Any, kind: str) -> str:
    return f"{_r(value)} is not of type '{kind}'"


def uuid_like(value: str) -> bool:
    """Nova's ``uuidutils.is_uuid_like``: dashes, braces, ``urn:uuid:`` and case free."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    bare = value.replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")
    return parsed.hex == bare.lower()


def _event(index: int, item: Any, version: Version) -> Event:
    # Nova names the innermost path element: the field, or the event's index
    at = str(index)
    if not isinstance(item, dict):
        raise errors.invalid(at, item, _type(item, "object"))
    server, name, status, tag = (item.get(k) for k in FIELDS)
    # jsonschema's order: type, properties (as the schema lists them), required, extras
    if "server_uuid" in item:
        if not isinstance(server, str):
            raise errors.invalid("server_uuid", server, _type(server, "string"))
        if not uuid_like(server):
            raise errors.invalid("server_uuid", server, f"{_r(server)} is not a 'uuid'")
    if "name" in item:
        if not isinstance(name, str):
            raise errors.invalid("name", name, _type(name, "string"))
        if name not in names(version):
            raise errors.invalid("name", name, f"{_r(name)} is not one of {names(version)}")
    if "status" in item:
        if not isinstance(status, str):
            raise errors.invalid("status", status, _type(status, "string"))
        if status not in STATUSES:
            raise errors.invalid("status", status, f"{_r(status)} is not one of "
                                 f"{list(STATUSES)}")
    if "tag" in item:
        if not isinstance(tag, str):
            raise errors.invalid("tag", tag, _type(tag, "string"))
        if len(tag) > MAX_TAG:
            raise errors.invalid("tag", tag, f"{_r(tag)} is too long")
    for required in ("server_uuid", "name"):
        if required not in item:
            raise errors.invalid(at, item, f"'{required}' is a required property")
    extra = [k for k in item if k not in FIELDS]
    if extra:
        raise errors.invalid(at, item, "Additional properties are not allowed "
                             f"({', '.join(_r(k) for k in extra)} "
                             f"{'was' if len(extra) == 1 else 'were'} unexpected)")
    return Event(str(uuid.UUID(server)), name, status if "status" in item else "completed",
                 tag, item)


def parse(body: Any, version: Version) -> list[Event]:
    """The events of a request body, or Nova's ``badRequest`` for the first fault."""
    if not isinstance(body, dict):
        raise errors.BadRequest(_type(body, "object"))
    if "events" not in body:
        raise errors.BadRequest("'events' is a required property")
    items = body["events"]
    if not isinstance(items, list):
        raise errors.invalid("events", items, _type(items, "array"))
    if not items:
        raise errors.invalid("events", items, "[] should be non-empty")
    parsed = [_event(i, item, version) for i, item in enumerate(items)]
    extra = [k for k in body if k != "events"]
    if extra:
        raise errors.BadRequest("Additional properties are not allowed "
                                f"({', '.join(_r(k) for k in extra)} "
                                f"{'was' if len(extra) == 1 else 'were'} unexpected)")
    return parsed


def decide(events: list[Event], hosts: Mapping[str, str]) -> Outcome:
    """Each event's code from ``hosts`` (live server id -> its host, "" for none)."""
    out: list[dict] = []
    accepted: list[Event] = []
    for event in events:
        host = hosts.get(event.server_uuid)
        if host is None:
            code = 404
        elif event.name in TAG_REQUIRED and event.tag is None:
            code = 400
        elif not host:
            code = 422
        else:
            code = 200
            accepted.append(event)
        out.append({**event.sent, "status": "completed" if code == 200 else "failed",
                    "code": code})
    status = 404 if not accepted else 200 if len(accepted) == len(events) else 207
    return Outcome(out, status, tuple(accepted))


def links_up(accepted: Iterable[Event]) -> dict[str, tuple[str, ...] | None]:
    """Server id -> the port ids whose link came up (None: every port, an event without
    a tag), for the completed ``network-vif-plugged`` events; a failed plug is not one."""
    out: dict[str, tuple[str, ...] | None] = {}
    for event in accepted:
        if event.name != PLUGGED or event.status != "completed":
            continue
        if event.tag is None or (event.server_uuid in out and out[event.server_uuid] is None):
            out[event.server_uuid] = None
        else:
            known = out.get(event.server_uuid) or ()
            out[event.server_uuid] = known if event.tag in known else (*known, event.tag)
    return out
