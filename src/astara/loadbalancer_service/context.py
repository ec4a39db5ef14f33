"""Who is asking, from the noauth identity headers, and what Octavia's default policy lets them.

``X-Project-Id`` names the project, ``X-Roles`` the roles (the headers the network
API reads; keystonemiddleware sets the same). Octavia's default policies: ``admin``
reads and writes everything; ``member`` reads and writes its own project's objects;
``reader`` reads its own project's; a request without identity, or with none of those
roles, is refused (403, as Octavia answers). The pure checks live here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from astara.loadbalancer_service import errors

MAX_PROJECT = 255


@dataclass(frozen=True)
class RequestContext:
    project_id: str
    user_id: str = ""
    roles: tuple[str, ...] = ()
    request_id: str = field(default_factory=lambda: f"req-{uuid.uuid4()}")
    # The caller's Keystone token, sent on with the calls made for them (None: noauth).
    auth_token: str | None = field(default=None, repr=False)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def can_write(self) -> bool:
        return self.is_admin or "member" in self.roles

    @property
    def can_read(self) -> bool:
        return self.can_write or "reader" in self.roles

    @classmethod
    def from_headers(cls, headers) -> RequestContext | None:
        project = headers.get("x-project-id") or headers.get("x-tenant-id")
        if not project or len(project) > MAX_PROJECT:
            return None
        roles = tuple(r.strip().lower() for r in headers.get("x-roles", "").split(",")
                      if r.strip())
        return cls(project_id=project, user_id=headers.get("x-user-id", "")[:255],
                   roles=roles, auth_token=headers.get("x-auth-token") or None)

    def require(self, write: bool) -> None:
        """The role check every route makes before anything is looked up."""
        if not (self.can_write if write else self.can_read):
            raise errors.Forbidden()

    def require_owner(self, project_id: str, kind: str | None = None,
                      id_: str | None = None) -> None:
        """Another project's object answers 403 (it exists: Octavia's policy says no)."""
        if not self.is_admin and project_id != self.project_id:
            raise errors.NotOwner(kind, id_)

    def notification_keys(self) -> dict:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        user = self.user_id or None
        return {
            "_context_user": user,
            "_context_user_id": user,
            "_context_project_id": self.project_id,
            "_context_tenant_id": self.project_id,
            "_context_project": self.project_id,
            "_context_is_admin": self.is_admin,
            "_context_read_only": False,
            "_context_show_deleted": False,
            "_context_auth_token": None,
            "_context_request_id": self.request_id,
            "_context_roles": list(self.roles),
            "_context_user_identity": f"{user or '-'} {self.project_id or '-'} - - -",
            "_context_timestamp": now,
        }
