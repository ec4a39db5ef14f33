"""A Keystone login (``auth_strategy = keystone``): user name, password, project and
domain in, a project-scoped token and what it says out; and its revocation at logout.

``authenticate`` is blocking (keystoneauth's password plugin, discovery included, so
the URL may name ``/v3`` or the bare Keystone root): the app runs it in a thread. The
password is passed to keystoneauth and dropped: never stored, never logged, never put
in an error message. Refusals become ``LoginRefused`` in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import generic


@dataclass(frozen=True)
class Login:
    token: str = field(repr=False)
    expires_at: float  # epoch seconds
    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: tuple[str, ...]


class LoginRefused(Exception):
    def __init__(self, message: str, status: int = 401):
        self.message = message
        self.status = status
        super().__init__(message)


def authenticate(url: str, user: str, password: str, project: str, domain: str,
                 timeout: float) -> Login:
    auth = generic.Password(auth_url=url, username=user, password=password,
                            project_name=project, user_domain_name=domain,
                            project_domain_name=domain)
    sess = ks_session.Session(auth=auth, timeout=timeout)
    try:
        ref = auth.get_access(sess)
    except ks_exceptions.Unauthorized:
        raise LoginRefused("Keystone refused this user name, password, project or "
                           "domain.") from None
    except (ks_exceptions.ConnectFailure, ks_exceptions.ConnectTimeout,
            ks_exceptions.DiscoveryFailure):
        raise LoginRefused(f"Keystone cannot be reached at {url}.", 503) from None
    except ks_exceptions.ClientException as exc:
        raise LoginRefused("Keystone refused the login "
                           f"({type(exc).__name__}).") from None
    if not ref.project_id:
        raise LoginRefused("Keystone gave no token scoped to that project.")
    return Login(ref.auth_token, ref.expires.timestamp(), ref.user_id, ref.username or user,
                 ref.project_id, ref.project_name or project, tuple(ref.role_names))


def identity_v3(url: str) -> str:
    """The Identity v3 root of a configured Keystone URL (``/v3`` added when bare)."""
    url = url.rstrip("/")
    return url if url.endswith("/v3") else f"{url}/v3"
