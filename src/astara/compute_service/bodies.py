"""Validation of compute API request bodies into plain values (pure, no I/O).

Handlers call these before anything is persisted; each failure raises the
``badRequest`` Nova answers with, worded as Nova words it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from astara.compute_service import catalog, errors

Version = tuple[int, int]


@dataclass(frozen=True)
class NetworkRequest:
    net_id: str | None = None
    port_id: str | None = None


@dataclass(frozen=True)
class CreateRequest:
    name: str
    flavor: catalog.Flavor
    image: catalog.Image
    networks: tuple[NetworkRequest, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    user_data: str | None = None
    key_name: str | None = None


def _metadata(value: Any, field_name: str = "metadata") -> dict[str, str]:
    if not isinstance(value, dict):
        raise errors.invalid(field_name, value, f"{value!r} is not of type 'object'")
    for k, v in value.items():
        if not isinstance(v, str) or not 1 <= len(k) <= 255 or len(v) > 255:
            raise errors.invalid(field_name, value, f"{v!r} is not of type 'string'")
    return dict(value)


def _networks(value: Any, version: Version) -> tuple[NetworkRequest, ...]:
    if value is None:
        return ()
    if isinstance(value, str) and version >= (2, 37):
        if value == "none":
            return ()
        raise errors.BadRequest("Unable to automatically allocate a network for project")
    if not isinstance(value, list):
        raise errors.invalid("networks", value, f"'{value}' is not of type 'array'")
    out = []
    for item in value:
        if not isinstance(item, dict) or not (item.get("uuid") or item.get("port")):
            raise errors.invalid("networks", value, "each network needs 'uuid' or 'port'")
        out.append(NetworkRequest(item.get("uuid") or None, item.get("port") or None))
    return tuple(out)


def create(body: Any, version: Version) -> CreateRequest:
    server = body.get("server") if isinstance(body, dict) else None
    if not isinstance(server, dict):
        raise errors.invalid("server", body, "'server' is a required property")
    for required in ("name", "flavorRef"):
        if required not in server:
            raise errors.invalid("server", server, f"'{required}' is a required property")
    if version >= (2, 37) and "networks" not in server:
        raise errors.invalid("server", server, "'networks' is a required property")
    name = server["name"]
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise errors.invalid("name", name, "must be a non-empty string of at most 255 chars")
    flavor = catalog.flavor(str(server["flavorRef"]))
    if flavor is None:
        raise errors.BadRequest(f"Flavor {server['flavorRef']} could not be found.")
    image = catalog.image(str(server.get("imageRef", "")))
    if image is None:
        raise errors.BadRequest("Can not find requested image")
    user_data = server.get("user_data")
    if user_data is not None and not isinstance(user_data, str):
        raise errors.invalid("user_data", user_data, "is not of type 'string'")
    return CreateRequest(name=name, flavor=flavor, image=image,
                         networks=_networks(server.get("networks"), version),
                         metadata=_metadata(server.get("metadata", {})),
                         user_data=user_data, key_name=server.get("key_name"))


def update(body: Any) -> dict[str, str]:
    server = body.get("server") if isinstance(body, dict) else None
    if not isinstance(server, dict):
        raise errors.invalid("server", body, "'server' is a required property")
    extra = [k for k in server if k not in ("name",)]
    if extra:
        raise errors.invalid("server", server, "Additional properties are not allowed "
                             f"('{extra[0]}' was unexpected)")
    return dict(server)


def action(body: Any) -> tuple[str, Any]:
    if not isinstance(body, dict) or len(body) != 1:
        raise errors.BadRequest("Malformed request body")
    name, arg = next(iter(body.items()))
    if name == "reboot":
        kind = arg.get("type") if isinstance(arg, dict) else None
        if kind not in ("HARD", "Hard", "hard", "SOFT", "Soft", "soft"):
            raise errors.invalid("type", kind, f"'{kind}' is not one of ['HARD', 'Hard', "
                                 "'hard', 'SOFT', 'Soft', 'soft']")
        return name, kind.upper()
    if name not in ("os-start", "os-stop", "os-getConsoleOutput"):
        raise errors.BadRequest(f"There is no such action: {name}")
    return name, arg


def metadata_body(body: Any, key: str = "metadata") -> dict[str, str]:
    if not isinstance(body, dict) or key not in body:
        raise errors.invalid(key, body, f"'{key}' is a required property")
    return _metadata(body[key], key)


def interface(body: Any) -> NetworkRequest:
    att = body.get("interfaceAttachment") if isinstance(body, dict) else None
    if not isinstance(att, dict):
        raise errors.invalid("interfaceAttachment", body, "is a required property")
    if att.get("net_id") and att.get("port_id"):
        raise errors.BadRequest("Must not input both network_id and port_id")
    if not att.get("net_id") and not att.get("port_id"):
        raise errors.BadRequest("Must input network_id or port_id")
    return NetworkRequest(att.get("net_id"), att.get("port_id"))
