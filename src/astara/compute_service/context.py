"""Who is asking: the project and roles a request carries, as Nova's noauth mode reads them.

``X-Project-Id`` names the project (no project: 401); ``X-Roles`` containing ``admin``
makes the caller an admin; ``X-OpenStack-Request-ID`` is the client's request id, the
key of idempotent creates. Each is at most 255 characters (400 otherwise).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from astara.compute_service import errors

MAX_ID = 255


@dataclass(frozen=True)
class Context:
    project_id: str
    user_id: str = ""
    roles: tuple[str, ...] = ()
    client_request_id: str | None = None
    request_id: str = field(default_factory=lambda: f"req-{uuid.uuid4()}")

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @classmethod
    def from_headers(cls, headers) -> Context | None:
        project = headers.get("x-project-id") or headers.get("x-tenant-id")
        if not project:
            return None
        user = headers.get("x-user-id", "")
        client_request_id = headers.get("x-openstack-request-id") or None
        for name, value in (("project", project), ("user", user),
                            ("request", client_request_id or "")):
            if len(value) > MAX_ID:  # the columns that store them hold 255
                raise errors.BadRequest(f"The {name} id is longer than {MAX_ID} characters.")
        roles = tuple(r.strip() for r in headers.get("x-roles", "").split(",") if r.strip())
        return cls(project_id=project, user_id=user, roles=roles,
                   client_request_id=client_request_id)
