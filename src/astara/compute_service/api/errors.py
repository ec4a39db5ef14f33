"""Nova's fault tree, as clients see it in ``{"<name>": {"code", "message"}}`` bodies.

    ComputeFault (500, computeFault)
    ├── BadRequest (400, badRequest)
    ├── Forbidden (403, forbidden)          quota overruns, admin-only requests
    ├── NotFound (404, itemNotFound)
    ├── Conflict (409, conflictingRequest)  an action that conflicts with a task or state
    ├── BadMethod (405, badMethod)          a method the route does not take
    ├── OverLimit (413, overLimit)          a body over the size limit
    └── NotAcceptable (406, computeFault)   an unsupported microversion

Values echoed back in a message are cut to ``SHOWN`` characters (a 5 MiB bad value
is not sent back whole) and rendered without recursion limits biting.
"""

from __future__ import annotations

import reprlib


class ComputeFault(Exception):
    status = 500
    name = "computeFault"

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)

    def body(self) -> dict:
        return {self.name: {"code": self.status, "message": self.message}}


class BadRequest(ComputeFault):
    status = 400
    name = "badRequest"


class Forbidden(ComputeFault):
    status = 403
    name = "forbidden"


class NotFound(ComputeFault):
    status = 404
    name = "itemNotFound"


class Conflict(ComputeFault):
    status = 409
    name = "conflictingRequest"


class BadMethod(ComputeFault):
    status = 405
    name = "badMethod"


class OverLimit(ComputeFault):
    status = 413
    name = "overLimit"


class NotAcceptable(ComputeFault):
    status = 406
    name = "computeFault"


class Unauthorized(ComputeFault):
    status = 401
    name = "unauthorized"


class ServiceUnavailable(ComputeFault):
    status = 503
    name = "serviceUnavailable"


SHOWN = 200
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist = 4, 8, 8
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = SHOWN


def shown(value) -> str:
    """``value`` as Nova prints it in a message (``%s``), cut to about SHOWN characters."""
    text = value if isinstance(value, str) else _REPR.repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN] + "..."


def instance_not_found(instance_id: str) -> NotFound:
    return NotFound(f"Instance {shown(instance_id)} could not be found.")


def invalid(field: str, value, reason: str) -> BadRequest:
    return BadRequest(f"Invalid input for field/attribute {field}. Value: {shown(value)}. "
                      f"{reason}")


def invalid_query(field: str, value, reason: str) -> BadRequest:
    return BadRequest(f"Invalid input for query parameters {field}. Value: {shown(value)}. "
                      f"{reason}")
