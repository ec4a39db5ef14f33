"""Validation of compute API request bodies into plain values (pure, no I/O).

Handlers call these before anything is persisted; each failure raises the
``badRequest`` Nova answers with, worded as Nova's JSON schemas word it (values
echoed back are cut short by ``errors.shown``). Names are 1..255 printable
characters, ids are uuids, user_data is base64 of at most 65,535 characters.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import Any

from astara.compute_service import catalog
from astara.compute_service.api import errors

Version = tuple[int, int]
CONSOLE_LENGTH = re.compile(r"-?[0-9]+")


@dataclass(frozen=True)
class NetworkRequest:
    net_id: str | None = None
    port_id: str | None = None
    tag: str | None = None


@dataclass(frozen=True)
class CreateRequest:
    name: str
    flavor: catalog.Flavor
    image: catalog.Image
    networks: tuple[NetworkRequest, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    user_data: str | None = None
    key_name: str | None = None
    description: str | None = None
    # ``os:scheduler_hints`` ``different_host``: servers to keep away from (see placement)
    different_host: tuple[str, ...] = ()
    # ``os:scheduler_hints`` ``group``: the server group it is booted into
    group: str | None = None


MAX_USER_DATA = 65535  # Nova's MAX_USERDATA_SIZE, on the base64 text
# Nova bounds a server's ports only through the port quota (Neutron's default is 50);
# here a fixed bound, above any real appliance (three) and below that quota, keeps one
# request from making thousands of network API calls
MAX_NETWORKS = 32
# A bound on ``different_host`` (Nova has none but the body size): an HA pair names one.
MAX_DIFFERENT_HOST = 32
METADATA_KEY = re.compile(r"[a-zA-Z0-9-_:. ]{1,255}")
INVALID_NAME = ("An invalid 'name' value was provided. The name must be: printable "
                "characters. Can not start or end with whitespace.")


def _type(value: Any, kind: str) -> str:
    return f"{errors.shown(value)} is not of type '{kind}'"


def _printable(ch: str) -> bool:
    # Nova's rule: no control/format/unassigned characters, no separator but spaces
    category = unicodedata.category(ch)
    return not category.startswith("C") and (not category.startswith("Z") or category == "Zs")


def name(value: Any, field_name: str = "name") -> str:
    """A server (or key pair) name as Nova's ``parameter_types.name`` accepts it."""
    if not isinstance(value, str):
        raise errors.invalid(field_name, value, _type(value, "string"))
    if not value:
        raise errors.invalid(field_name, value, "'' should be non-empty")
    if len(value) > 255:
        raise errors.invalid(field_name, value, f"'{errors.shown(value)}' is too long")
    if (not all(_printable(ch) for ch in value)
            or unicodedata.category(value[0]) == "Zs" or unicodedata.category(value[-1]) == "Zs"):
        raise errors.BadRequest(INVALID_NAME)
    return value


def is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _uuid(field_name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise errors.invalid(field_name, value, _type(value, "string"))
    if not is_uuid(value):
        raise errors.invalid(field_name, value, f"'{errors.shown(value)}' is not a 'uuid'")
    return value


def _metadata(value: Any, field_name: str = "metadata") -> dict[str, str]:
    if not isinstance(value, dict):
        raise errors.invalid(field_name, value, _type(value, "object"))
    for k, v in value.items():
        if not METADATA_KEY.fullmatch(k):
            raise errors.invalid(field_name, value, "Additional properties are not allowed "
                                 f"('{errors.shown(k)}' was unexpected)")
        if not isinstance(v, str):
            raise errors.invalid(k, v, _type(v, "string"))
        if len(v) > 255:
            raise errors.invalid(k, v, f"'{errors.shown(v)}' is too long")
    return dict(value)


def _user_data(value: Any) -> str | None:
    """The base64 text (whitespace dropped, as the metadata service decodes it strictly)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.invalid("user_data", value, _type(value, "string"))
    compact = "".join(value.split())
    try:
        base64.b64decode(compact, validate=True)
    except (ValueError, binascii.Error):
        raise errors.invalid("user_data", value,
                             f"'{errors.shown(value)}' is not a 'base64'") from None
    if len(value) > MAX_USER_DATA:
        raise errors.invalid("user_data", value, f"'{errors.shown(value)}' is too long")
    return compact


def _network(item: Any, version: Version) -> NetworkRequest:
    if not isinstance(item, dict):
        raise errors.invalid("networks", item, _type(item, "object"))
    port, net = item.get("port"), item.get("uuid")
    # device tags on networks: 2.32, dropped by 2.33, back from 2.37 (as in Nova)
    tag = device_tag(item["tag"]) if "tag" in item and (
        version == (2, 32) or version >= (2, 37)) else None
    if port is not None:
        return NetworkRequest(None, _uuid("port", port), tag)
    if net is None:
        raise errors.invalid("networks", item, "each network needs 'uuid' or 'port'")
    if not is_uuid(net):
        raise errors.BadRequest("Bad networks format: network uuid is not in proper format "
                                f"({errors.shown(net)})")
    return NetworkRequest(net, None, tag)


def _networks(value: Any, version: Version) -> tuple[NetworkRequest, ...]:
    if value is None:
        return ()
    if isinstance(value, str) and version >= (2, 37):
        if value == "none":
            return ()
        raise errors.BadRequest("Unable to automatically allocate a network for project")
    if not isinstance(value, list):
        raise errors.invalid("networks", value,
                             f"'{errors.shown(value)}' is not of type 'array'")
    if len(value) > MAX_NETWORKS:
        raise errors.BadRequest(f"Too many networks requested: {len(value)} (at most "
                                f"{MAX_NETWORKS} per server)")
    return tuple(_network(item, version) for item in value)


def create(body: Any, version: Version) -> CreateRequest:
    server = body.get("server") if isinstance(body, dict) else None
    if not isinstance(server, dict):
        raise errors.invalid("server", body, "'server' is a required property")
    for required in ("name", "flavorRef"):
        if required not in server:
            raise errors.invalid("server", server, f"'{required}' is a required property")
    if version >= (2, 37) and "networks" not in server:
        raise errors.invalid("server", server, "'networks' is a required property")
    server_name = name(server["name"])
    ref = server["flavorRef"]
    if isinstance(ref, bool) or not isinstance(ref, str | int):
        raise errors.invalid("flavorRef", ref, f"{errors.shown(ref)} is not of type "
                             "'string', 'integer'")
    flavor = catalog.flavor(str(ref))
    if flavor is None:
        raise errors.BadRequest(f"Flavor {errors.shown(str(ref))} could not be found.")
    image_ref = server.get("imageRef", "")
    if not isinstance(image_ref, str):
        raise errors.invalid("imageRef", image_ref, _type(image_ref, "string"))
    image = catalog.image(image_ref)
    if image is None:
        raise errors.BadRequest("Can not find requested image")
    key_name = server.get("key_name")
    return CreateRequest(name=server_name, flavor=flavor, image=image,
                         networks=_networks(server.get("networks"), version),
                         metadata=_metadata(server.get("metadata", {})),
                         user_data=_user_data(server.get("user_data")),
                         key_name=None if key_name is None else name(key_name, "key_name"),
                         description=description(server.get("description"))
                         if version >= (2, 19) else None,
                         different_host=_different_host(body), group=_group(body))


def _hints(body: dict) -> dict:
    hints = body.get("os:scheduler_hints", body.get("OS-SCH-HNT:scheduler_hints"))
    if hints is None:
        return {}
    if not isinstance(hints, dict):
        raise errors.invalid("os:scheduler_hints", hints, _type(hints, "object"))
    return hints


def _group(body: dict) -> str | None:
    """The ``group`` hint: a server group's id (one; Nova takes a list of one too)."""
    value = _hints(body).get("group")
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return None if value is None else _uuid("group", value)


def _different_host(body: dict) -> tuple[str, ...]:
    """Nova's ``os:scheduler_hints`` (a sibling of ``server``; ``OS-SCH-HNT:`` is its
    old spelling): ``different_host`` (one server id or a list) and ``group`` are read;
    other hints are accepted and ignored, as a Nova without their filter does."""
    value = _hints(body).get("different_host")
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise errors.invalid("different_host", value, _type(value, "string, array"))
    if len(items) > MAX_DIFFERENT_HOST:
        raise errors.invalid("different_host", value, f"'{errors.shown(value)}' is too long")
    return tuple(sorted({_uuid("different_host", v) for v in items}))


def description(value: Any) -> str | None:
    """A server description (2.19): null or at most 255 printable characters, spaces
    anywhere (Nova's ``parameter_types.description``)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.invalid("description", value, _type(value, "string, null"))
    if len(value) > 255:
        raise errors.invalid("description", value, f"'{errors.shown(value)}' is too long")
    if not all(_printable(ch) for ch in value):
        raise errors.invalid("description", value, f"'{errors.shown(value)}' does not "
                             "match the printable characters pattern")
    return value


def update(body: Any, version: Version = (2, 1)) -> dict[str, str | None]:
    server = body.get("server") if isinstance(body, dict) else None
    if not isinstance(server, dict):
        raise errors.invalid("server", body, "'server' is a required property")
    known = ("name", "description") if version >= (2, 19) else ("name",)
    extra = [k for k in server if k not in known]
    if extra:
        raise errors.invalid("server", server, "Additional properties are not allowed "
                             f"('{errors.shown(extra[0])}' was unexpected)")
    out: dict[str, str | None] = {"name": name(server["name"])} if "name" in server else {}
    if "description" in server:
        out["description"] = description(server["description"])
    return out


def console_length(arg: Any) -> int | None:
    """``os-getConsoleOutput``'s ``length``: lines from the end, None (or -1) for all."""
    if arg is None:
        arg = {}
    if not isinstance(arg, dict):
        raise errors.invalid("os-getConsoleOutput", arg, _type(arg, "object"))
    extra = [k for k in arg if k != "length"]
    if extra:
        raise errors.invalid("os-getConsoleOutput", arg, "Additional properties are not "
                             f"allowed ('{errors.shown(extra[0])}' was unexpected)")
    length = arg.get("length")
    if length is None:
        return None
    if isinstance(length, bool) or not isinstance(length, int | str):
        raise errors.invalid("length", length, f"{errors.shown(length)} is not of type "
                             "'integer', 'string', 'null'")
    if isinstance(length, str):
        if not CONSOLE_LENGTH.fullmatch(length):
            raise errors.invalid("length", length,
                                 f"'{errors.shown(length)}' does not match '^-?[0-9]+$'")
        if len(length) > 18:  # more lines than any console holds, and int() has limits
            raise errors.invalid("length", length, f"'{errors.shown(length)}' is too long")
        length = int(length)
    if length < -1:
        raise errors.invalid("length", length, f"{length} is less than the minimum of -1")
    return None if length == -1 else length


def action(body: Any) -> tuple[str, Any]:
    if not isinstance(body, dict) or len(body) != 1:
        raise errors.BadRequest("Malformed request body")
    action_name, arg = next(iter(body.items()))
    if action_name == "reboot":
        kind = arg.get("type") if isinstance(arg, dict) else None
        if kind not in ("HARD", "Hard", "hard", "SOFT", "Soft", "soft"):
            raise errors.invalid("type", kind, f"'{errors.shown(kind)}' is not one of "
                                 "['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']")
        return action_name, kind.upper()
    if action_name == "os-getConsoleOutput":
        return action_name, console_length(arg)
    if action_name not in ("os-start", "os-stop"):
        raise errors.BadRequest(f"There is no such action: {errors.shown(action_name)}")
    return action_name, arg


def metadata_body(body: Any, key: str = "metadata") -> dict[str, str]:
    if not isinstance(body, dict) or key not in body:
        raise errors.invalid(key, body, f"'{key}' is a required property")
    return _metadata(body[key], key)


def device_tag(value: Any) -> str:
    """A device tag (2.49+): at most 60 characters, no ``/`` or ``,`` (Nova's)."""
    if not isinstance(value, str):
        raise errors.invalid("tag", value, _type(value, "string"))
    if len(value) > 60:
        raise errors.invalid("tag", value, f"'{errors.shown(value)}' is too long")
    if "/" in value or "," in value:
        raise errors.invalid("tag", value, f"'{errors.shown(value)}' does not match "
                             "'^[^,/]*$'")
    return value


def interface(body: Any, version: Version = (2, 1)) -> NetworkRequest:
    att = body.get("interfaceAttachment") if isinstance(body, dict) else None
    if not isinstance(att, dict):
        raise errors.invalid("interfaceAttachment", body, "is a required property")
    tag = att.get("tag")
    if "tag" in att and version < (2, 49):
        raise errors.invalid("interfaceAttachment", att, "Additional properties are not "
                             "allowed ('tag' was unexpected)")
    net_id, port_id = att.get("net_id"), att.get("port_id")
    if net_id is not None:
        _uuid("net_id", net_id)
    if port_id is not None:
        _uuid("port_id", port_id)
    if net_id and port_id:
        raise errors.BadRequest("Must not input both network_id and port_id")
    if not net_id and not port_id:
        raise errors.BadRequest("Must input network_id or port_id")
    return NetworkRequest(net_id, port_id, None if tag is None else device_tag(tag))
