"""Who is asking: the project and roles a request carries, as Nova's noauth mode reads them.

``X-Project-Id`` names the project (no project: 401); ``X-Roles`` containing ``admin``
makes the caller an admin, ``reader`` alone a read-only caller (under
``auth_strategy = keystone`` these are the token's, set by keystonemiddleware);
``Idempotency-Key`` is the key of an idempotent server create (a client's
``X-OpenStack-Request-ID`` is not: clients reuse it across calls). Each is at most 255
characters (400 otherwise). ``request_id`` is the id the API gave this request
(``answer_headers``), recorded with the actions it accepts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from astara.compute_service.api import errors

MAX_ID = 255
IDEMPOTENCY_KEY = "idempotency-key"


@dataclass(frozen=True)
class Context:
    project_id: str
    user_id: str = ""
    roles: tuple[str, ...] = ()
    idempotency_key: str | None = None
    request_id: str = field(default_factory=lambda: f"req-{uuid.uuid4()}")
    # The caller's Keystone token, sent on with the calls made for them (None: noauth).
    auth_token: str | None = field(default=None, repr=False)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def read_only(self) -> bool:
        """The reader role without member or admin: it reads, never writes (Nova's
        defaults). Without any of those roles (noauth's bare headers) it may write."""
        return "reader" in self.roles and not {"admin", "member"} & set(self.roles)

    @classmethod
    def from_headers(cls, headers, request_id: str | None = None) -> Context | None:
        project = headers.get("x-project-id") or headers.get("x-tenant-id")
        if not project:
            return None
        user = headers.get("x-user-id", "")
        key = headers.get(IDEMPOTENCY_KEY) or None
        for name, value in (("project id", project), ("user id", user),
                            ("idempotency key", key or "")):
            if len(value) > MAX_ID:  # the columns that store them hold 255
                raise errors.BadRequest(f"The {name} is longer than {MAX_ID} characters.")
        roles = tuple(r.strip() for r in headers.get("x-roles", "").split(",") if r.strip())
        extra = {"request_id": request_id} if request_id else {}
        return cls(project_id=project, user_id=user, roles=roles, idempotency_key=key,
                   auth_token=headers.get("x-auth-token") or None, **extra)
