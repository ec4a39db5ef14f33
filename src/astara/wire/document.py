"""Parse an incoming appliance config document, version first.

Used by the appliance API before anything else: a document with an unknown
`version` is refused with a message naming the supported versions, and an invalid
one with pydantic's field-by-field errors. Both end as a 422 and change nothing.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from astara.wire.appliance_config import SUPPORTED_VERSIONS, ApplianceConfig


class DocumentError(ValueError):
    """The document cannot be accepted; `errors` is a JSON-able explanation."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


def parse_config(raw: object) -> ApplianceConfig:
    if not isinstance(raw, dict):
        raise DocumentError("the config document must be a JSON object")
    version = raw.get("version")
    if version not in SUPPORTED_VERSIONS:
        raise DocumentError(
            f"unsupported config version {version!r}; supported: {list(SUPPORTED_VERSIONS)}"
        )
    try:
        return ApplianceConfig.model_validate(raw)
    except ValidationError as exc:
        errors = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        raise DocumentError(f"invalid config document: {len(errors)} error(s)", errors) from exc
