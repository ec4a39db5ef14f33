"""``astara-ctl``: the operator's command line for a running orchestrator (RPC API).

    astara-ctl poll [--wait [--timeout S]]  (--wait: until every router was looked at;
                                    exit status 1 if some were not within S seconds)
    astara-ctl browse [--interval S]  (a full-screen table: ``astara.cli.browse_app``)
    astara-ctl router list|show [ID] [--format table|json|yaml]
    astara-ctl router rebuild|update|manage ID
    astara-ctl router debug ID [--reason TEXT]
    astara-ctl loadbalancer list|show [ID]   (with the VIP, listeners, statuses)
    astara-ctl loadbalancer rebuild|update|manage ID
    astara-ctl loadbalancer debug ID [--reason TEXT]
    astara-ctl tenant debug|manage ID [--reason TEXT]
    astara-ctl global debug|manage [--reason TEXT]
    astara-ctl workers list|debug
    astara-ctl health               (the rebuild breaker: open or closed, budget)
    astara-ctl ssh ROUTER_ID        (a shell in the appliance)
    astara-ctl byonf list|set|delete ...  (a tenant's own appliance image and flavor,
                                    on the network API: see ``astara.cli.ctl_byonf``)

Every call to the orchestrator sends its RPC token (``X-Auth-Token``), taken from, in
order: ``--token-file``, ``$ASTARA_RPC_TOKEN_FILE``, ``$ASTARA_RPC_TOKEN`` (the
token itself), else ``$ASTARA_STATE_PATH/rpc_auth_token`` (default state path
/var/lib/astara: where ``astara-aio`` writes it and the orchestrator's
``rpc_auth_token_file`` points by default).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import urllib.parse

import httpx
import yaml
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from astara.cli import ctl_byonf, ctl_poll
from astara.common import private, progress
from astara.common.entry import one_line_errors
from astara.common.opts import DEFAULT_STATE_PATH

TOKEN_HEADER = "X-Auth-Token"
DEFAULT_URL = os.environ.get("ASTARA_RPC_URL", "http://127.0.0.1:44250")
NETNS_PREFIX = "astara-appliance-"
ACTIONS = ["list", "show", "rebuild", "update", "debug", "manage"]
# The list's columns, per kind (``show`` prints every field).
COLUMNS = {
    "router": ["id", "tenant_id", "status", "state", "instance_id", "last_error"],
    "loadbalancer": ["id", "tenant_id", "vip_address", "listeners", "status",
                     "operating_status", "state", "instance_id", "last_error"],
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="astara-ctl", description=__doc__.split("\n")[0])
    p.add_argument("--url", default=DEFAULT_URL, help="orchestrator RPC API (%(default)s)")
    p.add_argument("--format", choices=["table", "json", "yaml"], default="table")
    p.add_argument("--token-file", default=None,
                   help="file holding the RPC token (default: see above)")
    sub = p.add_subparsers(dest="command", required=True)
    poll = sub.add_parser("poll", help="re-check every router now")
    poll.add_argument("--wait", action="store_true",
                      help="then wait until every one was looked at (a progress bar on a "
                      "terminal, in table format)")
    poll.add_argument("--timeout", type=float, default=300.0,
                      help="seconds --wait waits at most (%(default)s)")
    b = sub.add_parser("browse", help="a full-screen table of every router and load "
                       "balancer, with keys to rebuild, update, poll, debug and manage")
    b.add_argument("--interval", type=float, default=5.0,
                   help="seconds between refreshes; 0: only on demand (%(default)s)")
    for kind, what in (("router", "routers"),
                       ("loadbalancer", "load balancers (enabled_drivers = ...,loadbalancer)")):
        r = sub.add_parser(kind, help=f"list or act on {what}")
        r.add_argument("action", choices=ACTIONS)
        r.add_argument("id", nargs="?")
        r.add_argument("--reason", default="")
        r.add_argument("--cluster", action="store_true",
                       help="list: every cluster member's, with a MEMBER column")
    t = sub.add_parser("tenant", help="every router of a tenant")
    t.add_argument("action", choices=["debug", "manage"])
    t.add_argument("id")
    t.add_argument("--reason", default="")
    g = sub.add_parser("global", help="every router")
    g.add_argument("action", choices=["debug", "manage"])
    g.add_argument("--reason", default="")
    w = sub.add_parser("workers", help="worker processes")
    w.add_argument("action", choices=["list", "debug"])
    sub.add_parser("health", help="the rebuild breaker: is the orchestrator suspecting "
                   "its own path to the appliances, rebuilds in the window and their budget")
    c = sub.add_parser("cluster", help="the orchestrators of the cluster: share of the "
                       "ring, leases held, last heartbeat; 'forget MEMBER' drops a member "
                       "removed for good (its row and outbox cursor)")
    c.add_argument("action", nargs="?", choices=["list", "forget"], default="list")
    c.add_argument("member", nargs="?")
    s = sub.add_parser("ssh", help="a shell in a router's appliance")
    s.add_argument("id")
    ctl_byonf.add_parser(sub)
    return p


def token(token_file: str | None, env: dict[str, str]) -> str:
    """The RPC token to send; SystemExit with one line when there is none to read."""
    path = token_file or env.get("ASTARA_RPC_TOKEN_FILE")
    if not path and env.get("ASTARA_RPC_TOKEN"):
        return env["ASTARA_RPC_TOKEN"].strip()
    if not path:
        path = os.path.join(env.get("ASTARA_STATE_PATH") or DEFAULT_STATE_PATH,
                            "rpc_auth_token")
    try:
        return private.read_secret(path, "RPC token").decode()
    except private.SecretFileError as exc:
        raise SystemExit(f"astara-ctl: {exc} (run as root, or give --token-file or "
                         f"ASTARA_RPC_TOKEN)") from None
    except UnicodeDecodeError:
        raise SystemExit(f"astara-ctl: RPC token file {path} is not text") from None


def _table(headers: list[str], rows: list[list[str]], indent: int = 0) -> None:
    """Aligned columns two spaces apart: no borders, no colour, nothing cut or wrapped
    (output is often piped); values are printed as they are, never read as markup."""
    table = Table(box=None, pad_edge=False, padding=(0, 1), show_header=bool(headers),
                  header_style="")
    for header in headers or [""] * max((len(r) for r in rows), default=0):
        table.add_column(Text(header), no_wrap=True, overflow="ignore")
    for row in rows:
        table.add_row(*(Text(v) for v in row))
    Console(width=None if sys.stdout.isatty() else 100_000, color_system=None,
            highlight=False).print(Padding(table, (0, 0, 0, indent), expand=False))


def _appliance(report: dict) -> None:
    """A resource's appliance as it last reported: its fields, then its interfaces and
    services in columns."""
    print("appliance:")
    for key, value in report.items():
        if key not in ("interfaces", "services"):
            print(f"  {key}: {value if value is not None else '-'}")
    print("  interfaces:")
    _table([], [[i["ifname"], "up" if i["up"] else "down", f"mtu {i['mtu']}",
                 " ".join(i["addresses"]) or "-"] for i in report.get("interfaces", [])],
           indent=4)
    print("  services:")
    _table([], [[sv["name"], "healthy" if sv["healthy"] else "unhealthy", sv["detail"]]
                for sv in report.get("services", [])], indent=4)


def _show(data, fmt: str, columns: list[str] | None = None) -> None:
    if fmt == "json":
        print(json.dumps(data, indent=2, sort_keys=True))
    elif fmt == "yaml":
        print(yaml.safe_dump(data, sort_keys=True), end="")
    elif isinstance(data, list) and columns:
        _table([c.upper() for c in columns],
               [[str(item.get(c)) if item.get(c) is not None else "-" for c in columns]
                for item in data])
    else:
        for key, value in (data.items() if isinstance(data, dict) else []):
            if key == "appliance" and isinstance(value, dict):
                _appliance(value)
            elif key == "steps":
                print("steps:")
                _table([], [[st["step"], st["status"], st["outcome"],
                             st["reason"] + (f"  error: {st['error']}" if st.get("error")
                                             else "")] for st in value], indent=2)
            else:
                print(f"{key}: {value}")


class RpcError(Exception):
    """The orchestrator's RPC API could not be reached or refused a call (one line)."""


def call(http: httpx.Client, method: str, path: str, body: dict | None = None) -> dict:
    """One RPC call; ``RpcError`` with the orchestrator's message when it fails."""
    try:
        r = http.request(method, path, json=body)
    except httpx.TransportError as exc:
        raise RpcError(f"orchestrator unreachable at {http.base_url}: {exc}") from None
    if r.status_code >= 400:
        try:
            msg = r.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            msg = r.text
        raise RpcError(f"{msg} (HTTP {r.status_code})")
    try:
        return r.json()
    except ValueError:
        raise RpcError(f"the orchestrator's answer to {method} {path} is not JSON") from None


def _call(http: httpx.Client, method: str, path: str, body: dict | None = None) -> dict:
    try:
        return call(http, method, path, body)
    except RpcError as exc:
        raise SystemExit(f"astara-ctl: {exc}") from None


def request(kind: str, action: str, rid: str | None) -> tuple[str, str, str | None]:
    """The RPC call of ``astara-ctl <kind> <action> [ID]``: method, path, and the key of
    the answer to show (None: all of it). A list asks for its kind only."""
    if action == "list":
        return ("GET", "/routers/?kind=router", "routers") if kind == "router" else (
            "GET", "/loadbalancers/", "loadbalancers")
    if not rid:
        raise SystemExit(f"astara-ctl: a {kind} id is required")
    quoted = urllib.parse.quote(rid, safe="")
    if action == "show":
        return "GET", f"/{kind}s/{quoted}", kind
    return "PUT", f"/{kind}/{action}/{quoted}", None


def _ssh(http: httpx.Client, router_id: str) -> int:
    router = _call(http, "GET", f"/routers/{router_id}")["router"]
    instance = router.get("instance_id")
    if not instance:
        raise SystemExit(f"astara-ctl: router {router_id} has no appliance instance")
    ns = NETNS_PREFIX + instance
    if os.path.exists(f"/run/netns/{ns}"):
        shell = os.environ.get("SHELL", "/bin/bash")
        return subprocess.call(["ip", "netns", "exec", ns, shell])
    address = router.get("management_address")
    if not address or not shutil.which("ssh"):
        raise SystemExit(f"astara-ctl: appliance {instance} is not on this host")
    return subprocess.call(["ssh", f"root@{address}"])


def _browse(url: str, rpc_token: str, interval: float) -> int:
    # Imported here: Textual is only loaded for the TUI.
    from astara.cli.browse_api import RpcOrchestratorAPI
    from astara.cli.browse_app import BrowseApp

    if interval < 0:
        raise SystemExit("astara-ctl: --interval is 0 or more seconds")
    api = RpcOrchestratorAPI(url, rpc_token)
    try:
        BrowseApp(api, interval=interval).run()
    finally:
        api.close()
    return 0


@one_line_errors("astara-ctl")
def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    if a.command == "byonf":  # the network API's, as an admin: no RPC token
        return ctl_byonf.run(a, _show)
    headers = {TOKEN_HEADER: token(a.token_file, dict(os.environ))}
    if a.command == "browse":
        return _browse(a.url, headers[TOKEN_HEADER], a.interval)
    with httpx.Client(base_url=a.url, timeout=30, headers=headers) as http:
        if a.command == "poll" and a.wait:
            with progress.shown(sys.stderr, machine_output=a.format != "table") as bar:
                waited = ctl_poll.wait(http, _call, bar, a.timeout)
            _show(waited, a.format)
            return 1 if waited["timed_out"] else 0
        elif a.command == "poll":
            _show(_call(http, "PUT", "/poll/"), a.format)
        elif a.command in COLUMNS:
            method, path, key = request(a.command, a.action, a.id)
            wide = a.cluster and a.action == "list"
            if wide:
                path += "&cluster=1" if "?" in path else "?cluster=1"
            body = {"reason": a.reason} if method == "PUT" else None
            got = _call(http, method, path, body)
            _show(got[key] if key else got, a.format,
                  ([*COLUMNS[a.command], "member"] if wide else COLUMNS[a.command])
                  if a.action == "list" else None)
            if wide and got.get("unanswered"):
                why = got.get("unanswered_why") or {}
                print("astara-ctl: no answer from " + ", ".join(
                    f"{n} ({why[n]})" if isinstance(why, dict) and n in why else str(n)
                    for n in got["unanswered"]), file=sys.stderr)
        elif a.command == "tenant":
            _show(_call(http, "PUT", f"/tenant/{a.action}/{a.id}", {"reason": a.reason}),
                  a.format)
        elif a.command == "global":
            _show(_call(http, "PUT", f"/global/{a.action}/", {"reason": a.reason}), a.format)
        elif a.command == "workers":
            method, path = ("PUT", "/workers/debug/") if a.action == "debug" else (
                "GET", "/workers/")
            _show(_call(http, method, path)["workers"], a.format,
                  ["index", "pid", "alive", "restarts", "passes", "queued"])
        elif a.command == "health":
            _show(_call(http, "GET", "/health/")["breaker"], a.format)
        elif a.command == "cluster" and a.action == "forget":
            if not a.member:
                raise SystemExit("astara-ctl cluster forget: name the MEMBER")
            name = urllib.parse.quote(a.member, safe="")
            _show(_call(http, "DELETE", f"/cluster/members/{name}"), a.format)
        elif a.command == "cluster":
            got = _call(http, "GET", "/cluster/")["cluster"]
            if a.format != "table":
                _show(got, a.format)
            else:
                print(f"member: {got['member']}  coordination: {got['coordination']}  "
                      f"acting: {got['acting']}")
                _show(got["members"], a.format, ["name", "in_group", "share", "leases",
                                                 "heartbeat_age", "coordination", "rpc_url"])
        elif a.command == "ssh":
            return _ssh(http, a.id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
