"""Neutron's attribute validators and converters, as pure functions.

Each takes the raw JSON value and returns the converted value or raises what
Neutron would: a value its converters cannot convert (``boolean``, ``integer``,
``subnet_cidr``) is ``InvalidInput``; a converted value its validators refuse is
``HTTPBadRequest`` (``Invalid input for <attr>. Reason: ...``).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable
from typing import Any

from astara.network_service.errors import InvalidInput, invalid_input, shorten

Validator = Callable[[str, Any], Any]

_MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")


def string(max_len: int = 255) -> Validator:
    def check(attr: str, value: Any) -> str:
        if not isinstance(value, str):
            raise invalid_input(attr, f"'{shorten(value)}' is not a valid string")
        if len(value) > max_len:
            raise invalid_input(attr, f"'{shorten(value)}' exceeds maximum length of {max_len}")
        return value

    return check


def _unconvertible(reason: str) -> InvalidInput:
    """Neutron's converters raise ``InvalidInput``, whose message names no attribute."""
    return InvalidInput(error_message=reason)


def boolean(attr: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _unconvertible(f"'{shorten(value)}' cannot be converted to boolean")


def integer(lo: int | None = None, hi: int | None = None) -> Validator:
    def check(attr: str, value: Any) -> int:
        if isinstance(value, bool):
            raise _unconvertible(f"'{shorten(value)}' is not an integer")
        try:
            n = int(value)
        except (TypeError, ValueError, OverflowError):
            raise _unconvertible(f"'{shorten(value)}' is not an integer") from None
        if isinstance(value, float) and n != value:
            raise _unconvertible(f"'{shorten(value)}' is not an integer")
        if lo is not None and n < lo:
            raise invalid_input(attr, f"'{n}' is too small - must be at least '{lo}'")
        if hi is not None and n > hi:
            raise invalid_input(attr, f"'{n}' is too large - must be no larger than '{hi}'")
        return n

    return check


def uuid_str(attr: str, value: Any) -> str:
    if not isinstance(value, str):
        raise invalid_input(attr, f"'{shorten(value)}' is not a valid UUID")
    try:
        uuid.UUID(value)
    except ValueError:
        raise invalid_input(attr, f"'{shorten(value)}' is not a valid UUID") from None
    return value


def uuid_or_none(attr: str, value: Any) -> str | None:
    return None if value is None else uuid_str(attr, value)


def ip_address(attr: str, value: Any) -> str:
    try:
        # A scope suffix (``fe80::1%eth0``) names an interface of the host, not an
        # address; ipaddress keeps it, so ``fd98::77%a`` and ``fd98::77`` would differ.
        if not isinstance(value, str) or "%" in value:
            raise ValueError
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise invalid_input(attr, f"'{shorten(value)}' is not a valid IP address") from None


def ip_or_none(attr: str, value: Any) -> str | None:
    return None if value is None else ip_address(attr, value)


def ip_or_cidr(attr: str, value: Any) -> str:
    """An address or a network (allowed address pairs take both), normalised."""
    if isinstance(value, str) and "/" in value and "%" not in value:
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            pass
    elif isinstance(value, str) and "%" not in value:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            pass
    raise invalid_input(attr, f"'{shorten(value)}' is not a valid IP address or CIDR")


def cidr(attr: str, value: Any) -> str:
    if not isinstance(value, str) or "%" in value:
        raise invalid_input(attr, f"'{shorten(value)}' is not a valid IP subnet")
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise invalid_input(attr, f"'{shorten(value)}' is not a valid IP subnet") from None
    if "/" not in value or str(net) != value.lower():
        if "/" in value and str(net.network_address) != value.split("/")[0]:
            raise invalid_input(
                attr,
                f"'{shorten(value)}' isn't a recognized IP subnet cidr, '{net}' is recommended")
        if "/" not in value:
            raise invalid_input(attr, f"'{shorten(value)}' is not a valid IP subnet")
    return str(net)


def subnet_cidr(attr: str, value: Any) -> str:
    """A subnet's ``cidr``: Neutron converts it first (``InvalidInput`` when it is no
    CIDR at all), then validates it (a host address with a prefix: ``HTTPBadRequest``)."""
    try:
        if not isinstance(value, str) or "%" in value:
            raise ValueError
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise _unconvertible(f"{shorten(value)} is not in a CIDR format") from None
    return cidr(attr, value)


def int_in(*choices: int) -> Validator:
    """An integer attribute with a few legal values (``ip_version``): converted, then checked."""
    convert, check = integer(), one_of(*choices)

    def both(attr: str, value: Any) -> int:
        return check(attr, convert(attr, value))

    return both


def mac_address(attr: str, value: Any) -> str:
    if not isinstance(value, str) or not _MAC.match(value.lower()):
        raise invalid_input(attr, f"'{shorten(value)}' is not a valid MAC address")
    mac = value.lower()
    if mac == "00:00:00:00:00:00" or int(mac[:2], 16) & 1:
        raise invalid_input(attr, f"'{shorten(value)}' is not a valid MAC address")
    return mac


def one_of(*choices: Any) -> Validator:
    def check(attr: str, value: Any) -> Any:
        if value not in choices:
            shown = ", ".join(str(c) for c in choices)
            raise invalid_input(attr, f"'{shorten(value)}' is not in [{shown}]")
        return value

    return check


def list_of(item: Validator, unique: bool = False) -> Validator:
    def check(attr: str, value: Any) -> list:
        if not isinstance(value, list):
            raise invalid_input(attr, f"'{shorten(value)}' is not a list")
        out = [item(attr, v) for v in value]
        if unique:
            seen = set()
            for v in out:
                key = repr(v)
                if key in seen:
                    raise invalid_input(attr, f"Duplicate items in the list: '{v}'")
                seen.add(key)
        return out

    return check


def dict_of(spec: dict[str, tuple[Validator, bool]]) -> Validator:
    """A dict whose keys are in ``spec``: key -> (validator, required)."""

    def check(attr: str, value: Any) -> dict:
        if not isinstance(value, dict):
            raise invalid_input(attr, f"'{shorten(value)}' is not a dictionary")
        unknown = sorted(set(value) - set(spec))
        if unknown:
            raise invalid_input(attr, f"Unrecognized keys: {', '.join(unknown)}")
        out = {}
        for key, (validate, required) in spec.items():
            if key in value:
                out[key] = validate(attr, value[key])
            elif required:
                raise invalid_input(attr, f"Validation of dictionary's keys failed. "
                                    f"Expected keys: {{'{key}'}} Provided keys: "
                                    f"{set(value) or 'set()'}")
        return out

    return check


def nullable(inner: Validator) -> Validator:
    def check(attr: str, value: Any) -> Any:
        return None if value is None else inner(attr, value)

    return check


IPV6_MODES = one_of("slaac", "dhcpv6-stateless", "dhcpv6-stateful", None)
