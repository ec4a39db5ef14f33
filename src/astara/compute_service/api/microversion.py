"""Compute API microversions: parse the request headers, echo them in the response.

Clients ask with ``OpenStack-API-Version: compute 2.N`` (or the legacy
``X-OpenStack-Nova-API-Version``); no header means 2.1, ``latest`` means the
maximum. A version outside [MIN, MAX] is a 406 ``computeFault`` as in Nova, a
malformed one a 400. The headers are read and the version parsed by
``microversion_parse``, the library Nova uses.
"""

from __future__ import annotations

import microversion_parse

from astara.compute_service.api import errors

MIN = (2, 1)
MAX = (2, 104)


def fmt(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def requested(headers) -> str | None:
    """The compute version a request names (the last one, as Nova reads it), or None."""
    return microversion_parse.get_version(
        headers, "compute", legacy_headers=["x-openstack-nova-api-version"]) or None


def parse(raw: str | None) -> tuple[int, int]:
    if raw is None:
        return MIN
    if raw.lower() == "latest":
        return MAX
    try:
        version = microversion_parse.parse_version_string(raw)
    except TypeError:
        raise errors.BadRequest(f"API Version String {raw} is of invalid format. Must be of "
                                "format MajorNum.MinorNum.") from None
    if not version.matches(MIN, MAX):
        raise errors.NotAcceptable(f"Version {raw} is not supported by the API. Minimum is "
                                   f"{fmt(MIN)} and maximum is {fmt(MAX)}.")
    return version.major, version.minor


def echoed(raw: str | None) -> str:
    """The version an answer names: the one asked for, even one refused (as Nova's 406
    names it), ``latest`` resolved; at most 32 characters of it."""
    if raw is None:
        return fmt(MIN)
    return fmt(MAX) if raw.lower() == "latest" else raw[:32]


def headers(version: tuple[int, int] | str) -> dict[str, str]:
    text = version if isinstance(version, str) else fmt(version)
    return {"OpenStack-API-Version": f"compute {text}",
            "X-OpenStack-Nova-API-Version": text,
            "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version"}
