"""``astara-ctl byonf``: an admin's BYONF entries, on the network API (not the RPC API).

    astara-ctl byonf list [--tenant ID] [--function-type router|loadbalancer]
    astara-ctl byonf set TENANT_ID router|loadbalancer IMAGE_UUID [--flavor FLAVOR_ID]
    astara-ctl byonf delete TENANT_ID router|loadbalancer

``set`` creates the tenant's entry for that function type or changes it (no
``--flavor``: the orchestrator's default flavor). The orchestrator uses an entry when
``[DEFAULT] enable_byonf`` is true, at the appliance's next boot (``astara-ctl router
rebuild ID`` for one running now).

Under ``auth_strategy = keystone``: ``--os-cloud NAME`` (``$OS_CLOUD``; or an openrc's
``OS_*`` variables) names an admin's credentials in clouds.yaml, read as the
``openstack`` command reads them (``astara.common.cloud_auth``); one token serves every
call, and the network API is the catalog's unless ``--network-url`` (or
``$ASTARA_NETWORK_URL``) names it. Without them (noauth): calls go to ``--network-url``
(default http://127.0.0.1:9696) as an admin of ``--admin-project``
(``$ASTARA_ADMIN_PROJECT``, default ``admin``), with the identity headers the APIs take.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

import httpx

from astara.common import cloud_auth

FUNCTION_TYPES = ("router", "loadbalancer")
COLUMNS = ["id", "tenant_id", "function_type", "image_uuid", "flavor_id"]


def add_parser(sub) -> None:
    b = sub.add_parser("byonf", help="a tenant's own appliance image and flavor "
                       "(the network API's /v2.0/byonfs, as an admin)")
    b.add_argument("--network-url", default=os.environ.get("ASTARA_NETWORK_URL"),
                   help="default: the catalog's with --os-cloud, else http://127.0.0.1:9696")
    b.add_argument("--os-cloud", default=os.environ.get("OS_CLOUD"),
                   help="a cloud of clouds.yaml (an admin's): Keystone tokens instead of "
                   "noauth headers")
    b.add_argument("--admin-project", default=os.environ.get("ASTARA_ADMIN_PROJECT", "admin"))
    acts = b.add_subparsers(dest="action", required=True)
    ls = acts.add_parser("list")
    ls.add_argument("--tenant")
    ls.add_argument("--function-type", choices=FUNCTION_TYPES)
    st = acts.add_parser("set")
    st.add_argument("tenant")
    st.add_argument("function_type", choices=FUNCTION_TYPES)
    st.add_argument("image_uuid")
    st.add_argument("--flavor", default=None)
    rm = acts.add_parser("delete")
    rm.add_argument("tenant")
    rm.add_argument("function_type", choices=FUNCTION_TYPES)


def _call(http: httpx.Client, method: str, path: str, **kw) -> dict | None:
    try:
        r = http.request(method, path, **kw)
    except httpx.TransportError as exc:
        raise SystemExit(f"astara-ctl: network API unreachable at {http.base_url}: "
                         f"{exc}") from None
    if r.status_code >= 400:
        try:
            msg = r.json()["NeutronError"]["message"]
        except (ValueError, KeyError, TypeError):
            msg = r.text[:300]
        raise SystemExit(f"astara-ctl: {msg} (HTTP {r.status_code})")
    return r.json() if r.content else None


def _find(http: httpx.Client, tenant: str, function_type: str) -> dict | None:
    body = _call(http, "GET", "/byonfs",
                 params={"tenant_id": tenant, "function_type": function_type}) or {}
    found = body.get("byonfs") or []
    return found[0] if found else None


def run(a: argparse.Namespace, show: Callable[..., None]) -> int:
    if cloud_auth.wanted(a.os_cloud):
        try:
            creds = cloud_auth.login(a.os_cloud)
            url = a.network_url or creds.endpoint("network")
        except cloud_auth.CloudError as exc:
            raise SystemExit(f"astara-ctl: {exc}") from None
        headers, auth = {}, creds.auth
    else:
        headers = {"X-Project-Id": a.admin_project, "X-Roles": "admin",
                   "X-User-Id": "astara-ctl"}
        url, auth = a.network_url or "http://127.0.0.1:9696", None
    base = url.rstrip("/") + "/v2.0"
    with httpx.Client(base_url=base, timeout=30, headers=headers,
                      **({"auth": auth} if auth is not None else {})) as http:
        if a.action == "list":
            params = {k: v for k, v in (("tenant_id", a.tenant),
                                        ("function_type", a.function_type)) if v}
            show((_call(http, "GET", "/byonfs", params=params) or {})["byonfs"], a.format,
                 COLUMNS)
            return 0
        entry = _find(http, a.tenant, a.function_type)
        if a.action == "delete":
            if entry is None:
                raise SystemExit(f"astara-ctl: tenant {a.tenant} has no byonf for "
                                 f"{a.function_type}")
            _call(http, "DELETE", f"/byonfs/{entry['id']}")
            show({"deleted": entry["id"]}, a.format)
            return 0
        values = {"image_uuid": a.image_uuid, "flavor_id": a.flavor}
        if entry is None:
            body = {"tenant_id": a.tenant, "function_type": a.function_type, **values}
            out = _call(http, "POST", "/byonfs", json={"byonf": body})
        else:
            out = _call(http, "PUT", f"/byonfs/{entry['id']}", json={"byonf": values})
        show((out or {})["byonf"], a.format)
    return 0
