"""Parse an incoming appliance config document, version first.

Used by the appliance API before anything else: a document with an unknown
`version` is refused with a message naming the supported versions, and an invalid
one with pydantic's field-by-field errors. Both end as a 422 and change nothing.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from astara.wire.appliance_config import SUPPORTED_VERSIONS, ApplianceConfig

MAX_ERRORS = 20


def _short(part: object, limit: int = 64) -> object:
    if not isinstance(part, str):
        return part
    return part if len(part) <= limit else part[:limit] + "..."


class DocumentError(ValueError):
    """The document cannot be accepted; `errors` is a JSON-able explanation."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


def parse_config(raw: object) -> ApplianceConfig:
    if not isinstance(raw, dict):
        raise DocumentError("the config document must be a JSON object")
    version = raw.get("version")
    if not isinstance(version, str) or version not in SUPPORTED_VERSIONS:
        shown = repr(version) if len(repr(version)) <= 40 else repr(version)[:40] + "..."
        raise DocumentError(
            f"unsupported config version {shown}; supported: {list(SUPPORTED_VERSIONS)}"
        )
    try:
        return ApplianceConfig.model_validate(raw)
    except ValidationError as exc:
        # Bounded: a huge document must not come back as a huge error.
        errors = [
            {"loc": [_short(p) for p in e["loc"]], "msg": _short(e["msg"], 200),
             "type": e["type"]} for e in exc.errors()[:MAX_ERRORS]
        ]
        raise DocumentError(f"invalid config document: {exc.error_count()} error(s)",
                            errors) from exc
