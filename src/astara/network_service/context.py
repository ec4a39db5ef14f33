"""The request context: who is asking, taken from the request as Neutron's noauth mode does.

``X-Project-Id`` names the project; ``X-Roles`` containing ``admin`` makes the
caller an admin, ``reader`` alone a read-only caller. Under ``auth_strategy = keystone``
these headers are the token's, set by keystonemiddleware (``common.token_auth``).
The context also renders the ``_context_*`` keys Neutron puts in
its notifications.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime


def utf8_header(value: str | None) -> str | None:
    """A header Starlette decoded as Latin-1, read back as the UTF-8 auth_token wrote
    (a project named "Проект"); a value that is not UTF-8 is kept as it came."""
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


@dataclass(frozen=True)
class RequestContext:
    project_id: str
    user_id: str = ""
    roles: tuple[str, ...] = ()
    project_name: str | None = None
    user_name: str | None = None
    request_id: str = field(default_factory=lambda: f"req-{uuid.uuid4()}")
    global_request_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def read_only(self) -> bool:
        """The reader role without member or admin (Keystone's defaults imply reader from
        member and member from admin): it reads, never writes, as Neutron's defaults say.
        Without any of those roles (noauth's bare headers) the project rules alone apply."""
        return "reader" in self.roles and not {"admin", "member"} & set(self.roles)

    @classmethod
    def from_headers(cls, headers) -> RequestContext | None:
        project = headers.get("x-project-id") or headers.get("x-tenant-id")
        if not project:
            return None
        roles = tuple(r.strip() for r in headers.get("x-roles", "").split(",") if r.strip())
        return cls(
            project_id=project,
            user_id=headers.get("x-user-id", ""),
            roles=roles,
            project_name=utf8_header(headers.get("x-project-name")),
            user_name=utf8_header(headers.get("x-user-name")),
            global_request_id=headers.get("openstack-request-id"),
        )

    @classmethod
    def admin(cls) -> RequestContext:
        return cls(project_id="", roles=("admin",))

    def notification_keys(self) -> dict:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        user = self.user_id or None
        return {
            "_context_user": user,
            "_context_project_id": self.project_id,
            "_context_system_scope": None,
            "_context_project": self.project_id,
            "_context_domain": None,
            "_context_user_domain": None,
            "_context_project_domain": None,
            "_context_is_admin": self.is_admin,
            "_context_read_only": False,
            "_context_show_deleted": False,
            "_context_auth_token": None,
            "_context_request_id": self.request_id,
            "_context_global_request_id": self.global_request_id,
            "_context_resource_uuid": None,
            "_context_roles": list(self.roles),
            "_context_user_identity": f"{user or '-'} {self.project_id or '-'} - - -",
            "_context_is_admin_project": True,
            "_context_user_id": user,
            "_context_timestamp": now,
            "_context_project_name": self.project_name,
            "_context_user_name": self.user_name,
            "_context_has_global_access": self.is_admin,
            "_context_can_set_project_id": self.is_admin,
        }
