"""Nova's fault tree, as clients see it in ``{"<name>": {"code", "message"}}`` bodies.

    ComputeFault (500, computeFault)
    ├── BadRequest (400, badRequest)
    ├── Forbidden (403, forbidden)          quota overruns, admin-only requests
    ├── NotFound (404, itemNotFound)
    ├── Conflict (409, conflictingRequest)  an action that conflicts with a task or state
    └── NotAcceptable (406, computeFault)   an unsupported microversion
"""

from __future__ import annotations


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


class NotAcceptable(ComputeFault):
    status = 406
    name = "computeFault"


class Unauthorized(ComputeFault):
    status = 401
    name = "unauthorized"


def instance_not_found(instance_id: str) -> NotFound:
    return NotFound(f"Instance {instance_id} could not be found.")


def invalid(field: str, value, reason: str) -> BadRequest:
    return BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. {reason}")
