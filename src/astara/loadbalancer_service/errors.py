"""Octavia's error answers, as clients see them.

Octavia (WSME/pecan) answers most errors with ``{"faultcode": "Client",
"faultstring": ..., "debuginfo": null}``; a few framework errors (unknown path,
405, a bad sort direction or limit) come from pecan as ``{"code", "title",
"description"}``. Each error carries its status and renders its own body.

    ApiError (faultstring body)
    ├── BadRequest (400)      invalid_input, unknown_attribute, validation
    ├── Forbidden (403)       policy refusal (NotOwner: another project's), QuotaMet
    ├── NotFound (404)        "<Kind> <id> not found."
    └── Conflict (409)        duplicate listener port, member, second monitor
    FrameworkError (code/title/description body)
"""

from __future__ import annotations

from typing import Any

SHOWN = 255  # longest value a message repeats back to the client
SHOWN_VALUE = 1024  # ... when it is the bad value itself (Octavia echoes it whole)
MAX_MESSAGE = 2048


def shorten(value: Any, limit: int = SHOWN) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


class ApiError(Exception):
    status = 500
    faultcode = "Client"

    def __init__(self, message: str):
        self.message = message if len(message) <= MAX_MESSAGE else \
            message[:MAX_MESSAGE] + "..."
        super().__init__(self.message)

    def body(self) -> dict:
        return {"faultcode": self.faultcode, "faultstring": self.message, "debuginfo": None}


class BadRequest(ApiError):
    status = 400


class Forbidden(ApiError):
    status = 403

    def __init__(self, message: str = "Policy does not allow this request to be performed."):
        super().__init__(message)


class NotOwner(Forbidden):
    """Another project's object: Octavia's 403; ``kind`` and ``id`` let the Neutron
    LBaaS v2 paths answer it as Neutron does (404, the object "could not be found")."""

    def __init__(self, kind: str | None = None, id_: str | None = None):
        super().__init__()
        self.kind = kind
        self.id = id_


class QuotaMet(Forbidden):
    def __init__(self, kind: str):
        super().__init__(f"Quota has been met for resources: {KINDS[kind]}")
        self.kind = kind


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class ServerError(ApiError):
    status = 500
    faultcode = "Server"


class Unavailable(ServerError):
    status = 503


class FrameworkError(ApiError):
    """pecan's own answers (routing, a bad sort direction or limit)."""

    TITLES = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
              406: "Not Acceptable", 413: "Request Entity Too Large"}

    def __init__(self, status: int, description: str | None = "", title: str | None = None):
        self.status = status
        super().__init__(description or "")
        self.description = description
        self.title = title or self.TITLES.get(status, "Error")

    def body(self) -> dict:
        return {"code": self.status, "title": self.title, "description": self.description}


# Octavia's display names, as its messages use them.
KINDS = {"loadbalancer": "Load Balancer", "listener": "Listener", "pool": "Pool",
         "member": "Member", "healthmonitor": "Health Monitor", "flavor": "Flavor",
         "l7policy": "L7 Policy", "l7rule": "L7 Rule"}


def not_found(kind: str, id_: str) -> NotFound:
    return NotFound(f"{KINDS[kind]} {shorten(id_, 64)} not found.")


def invalid_input(attr: str, value: Any, reason: str) -> BadRequest:
    shown = value if isinstance(value, str) else repr(value) if isinstance(value, dict) \
        else str(value)
    return BadRequest(f"Invalid input for field/attribute {attr}. Value: "
                      f"'{shorten(shown, SHOWN_VALUE)}'. {reason}")


def unknown_attribute(argument: str, name: str) -> BadRequest:
    return BadRequest(f"Unknown attribute for argument {argument}: {shorten(name, 64)}")


def validation(message: str) -> BadRequest:
    return BadRequest(f"Validation failure: {message}")


def missing(attr: str) -> BadRequest:
    return invalid_input(attr, "None", "Mandatory field missing.")


def quota_met(kind: str) -> QuotaMet:
    return QuotaMet(kind)


def unsupported(option: str) -> BadRequest:
    """Octavia answers 501 for a provider's unsupported option; never a 5xx here."""
    return BadRequest(f"Provider 'astara' does not support a requested option: {option}")
