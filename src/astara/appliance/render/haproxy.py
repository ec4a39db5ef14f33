"""Render a document's `loadbalancer` section as one haproxy configuration. Pure.

Called by `converge`; `apply.haproxy` checks the text with `haproxy -c`, swaps it in
and starts or reloads haproxy (master-worker). Names: a frontend is its listener's id,
a backend is `<pool id>:<mode>` (`backend_name`), a server its member's id; the ids are
plain tokens (`wire.loadbalancer_config.ObjectId`), so they are safe as haproxy names.
Values a tenant wrote (paths, headers, URLs) are escaped (`escape`) and put after
`--`, so none can end a word, start a comment, or pass for a flag.

L7 policies are applied in position order, first match wins, whatever their action:
a matching REDIRECT_TO_POOL policy only records its backend in a variable
(`txn.l7pool`), and every later policy's rule requires that variable unset, so a
redirect or reject further down never overrides it (haproxy itself would run every
`http-request` rule before any `use_backend`). A policy with no enabled rule never
matches (Octavia's behaviour). Backends are in `render.haproxy_backend`.

A TERMINATED_HTTPS listener binds with `ssl crt <file>` per certificate, its default
first (haproxy serves the first when no SNI name matches, and picks the others by the
names in them), with Octavia's default TLS versions, ciphers and ALPN (`TLS`: the only
values the API takes), and serves HTTP to its pools. `certificate_files` are the PEM
files this text names, one per reference (`certs/<sha256>.pem`, written 0600 in a
0700 directory by `apply.haproxy`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from astara.appliance.render.haproxy_backend import (
    RenderError,
    Uses,
    address,
    backend_name,
    backends,
    escape,
    listener_mode,
    name_token,
)
from astara.wire.loadbalancer_config import L7Policy, L7Rule, Listener, LoadBalancer

__all__ = ["RenderError", "backend_name", "certificate_files", "paths", "render"]

_MATCH = {"REGEX": "reg", "STARTS_WITH": "beg", "ENDS_WITH": "end", "CONTAINS": "sub",
          "EQUAL_TO": "str"}
_NOT_CHOSEN = "!{ var(txn.l7pool) -m found }"


# A unix socket's path is at most ~100 bytes (haproxy refuses more than 97), and an
# appliance's state directory alone can be longer: the stats socket lives in one short,
# root-only directory, named by a hash of the state directory.
SOCKET_DIR = Path("/run/astara-haproxy")


CERT_DIR = "certs"  # under the state directory: the PEM files, 0600
# Octavia 19's defaults for a TERMINATED_HTTPS listener (the API takes no others):
# TLS 1.2 and 1.3, its cipher list (the TLS 1.3 suites are haproxy's `ciphersuites`,
# the others its `ciphers`), ALPN h2, http/1.1, http/1.0.
TLS_MIN = "TLSv1.2"
TLS_CIPHERS = ("TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:"
               "DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256:"
               "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
               "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
               "DHE-RSA-AES256-SHA256:DHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:"
               "ECDHE-RSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256")
ALPN = "h2,http/1.1,http/1.0"


def paths(state_dir: Path) -> dict[str, Path]:
    key = hashlib.sha256(str(state_dir).encode()).hexdigest()[:20]
    return {"conf": state_dir / "haproxy.cfg", "pid": state_dir / "haproxy.pid",
            "sock": SOCKET_DIR / f"{key}.sock", "certs": state_dir / CERT_DIR}


def cert_name(ref: str) -> str:
    """`astara:pem:sha256:<hex>` (the wire's pattern) -> `<hex>.pem`."""
    return ref.rsplit(":", 1)[-1] + ".pem"


def certificate_files(lb: LoadBalancer) -> dict[str, str]:
    """File name -> PEM of every certificate a listener names."""
    pems = {c.ref: c.pem for c in lb.certificates}
    return {cert_name(ref): pems[ref] for x in lb.listeners for ref in x.certificate_refs()}


def render(lb: LoadBalancer, state_dir: Path, user: tuple[str, str] | None = None) -> str:
    """The whole configuration; `user` (user, group) is who the workers run as."""
    sock = paths(state_dir)["sock"]
    lines = [
        "# Rendered by the astara appliance agent; every push replaces it.",
        "global",
        "    master-worker",
        f"    stats socket {sock} mode 600 level admin expose-fd listeners",
        "    stats timeout 30s",
    ]
    if user is not None:
        lines += [f"    user {user[0]}", f"    group {user[1]}"]
    lines += [
        "",
        "defaults",
        "    retries 3",
        "    option redispatch",  # a connection refused by a member is tried on another
        "    timeout connect 5000ms",
        "    timeout client 50000ms",
        "    timeout server 50000ms",
        "",
    ]
    uses = Uses.of(lb)
    for listener in lb.listeners:
        lines += frontend(lb, listener, paths(state_dir)["certs"])
    for text in backends(lb, uses):
        lines += text
    return "\n".join(lines).rstrip("\n") + "\n"


def frontend(lb: LoadBalancer, listener: Listener, cert_dir: Path) -> list[str]:
    mode = listener_mode(listener)
    lines = [
        f"frontend {listener.id}",
        f"    bind {address(lb.vip_address, listener.protocol_port)}{_tls(listener, cert_dir)}",
        f"    mode {mode}",
        f"    timeout client {listener.timeout_client_data}ms",
    ]
    if not (lb.admin_state_up and listener.admin_state_up):
        lines.append("    disabled")
    if listener.connection_limit is not None:
        lines.append(f"    maxconn {listener.connection_limit}")
    if listener.timeout_tcp_inspect:
        lines.append(f"    tcp-request inspect-delay {listener.timeout_tcp_inspect}ms")
    if listener.allowed_cidrs:
        cidrs = " ".join(str(c) for c in listener.allowed_cidrs)
        lines.append(f"    tcp-request connection reject if !{{ src {cidrs} }}")
    policies = [p for p in sorted(listener.l7policies, key=lambda p: p.position)
                if p.admin_state_up and _enabled(p)]
    for policy in policies:
        lines += [f"    acl {r.id} {_acl(r)}" for r in _enabled(policy)]
    for policy in policies:
        lines.append(f"    {_action(policy, mode)} if {_condition(policy)} {_NOT_CHOSEN}")
    if any(p.action == "REDIRECT_TO_POOL" for p in policies):
        lines.append("    use_backend %[var(txn.l7pool)] if { var(txn.l7pool) -m found }")
    if listener.default_pool_id:
        lines.append(f"    default_backend {backend_name(listener.default_pool_id, mode)}")
    return lines + [""]


def _tls(listener: Listener, cert_dir: Path) -> str:
    if listener.protocol != "TERMINATED_HTTPS":
        return ""
    crts = "".join(f" crt {escape(str(cert_dir / cert_name(ref)))}"
                   for ref in listener.certificate_refs())
    suites = ":".join(c for c in TLS_CIPHERS.split(":") if c.startswith("TLS_"))
    ciphers = ":".join(c for c in TLS_CIPHERS.split(":") if not c.startswith("TLS_"))
    return (f" ssl{crts} alpn {ALPN} ssl-min-ver {TLS_MIN} ciphers {ciphers} "
            f"ciphersuites {suites}")


def _enabled(policy: L7Policy) -> list[L7Rule]:
    return [r for r in policy.rules if r.admin_state_up]


def _condition(policy: L7Policy) -> str:
    """The policy's enabled rules, ANDed (haproxy ANDs the ACLs of one condition)."""
    return " ".join(("!" if r.invert else "") + r.id for r in _enabled(policy))


def _action(policy: L7Policy, mode: str) -> str:
    code = policy.redirect_http_code
    if policy.action == "REDIRECT_TO_URL":
        return f"http-request redirect code {code} location {escape(policy.redirect_url)}"
    if policy.action == "REDIRECT_PREFIX":
        return f"http-request redirect code {code} prefix {escape(policy.redirect_prefix)}"
    if policy.action == "REDIRECT_TO_POOL":
        assert policy.redirect_pool_id is not None  # the wire model demands it
        target = backend_name(policy.redirect_pool_id, mode)
        return f"http-request set-var(txn.l7pool) str({target})"
    return "http-request deny"  # REJECT: 403, as Octavia's


def _acl(rule: L7Rule) -> str:
    match = _MATCH[rule.compare_type]
    value = escape(rule.value)
    if rule.type == "PATH":
        return f"path -m {match} -- {value}"
    if rule.type == "HOST_NAME":  # host names compare without case
        return f"req.hdr(host),field(1,:) -i -m {match} -- {value}"
    if rule.type in ("HEADER", "COOKIE"):
        key = name_token(rule.key, f"L7 rule {rule.id}: {rule.type.lower()} name")
        fetch = "req.hdr" if rule.type == "HEADER" else "req.cook"
        return f"{fetch}({key}) -m {match} -- {value}"
    # FILE_TYPE: the extension of the path (Octavia allows only these two compares)
    if rule.compare_type == "EQUAL_TO":
        return f"path -m end -- .{value}"
    if rule.compare_type == "REGEX":
        return f"path -m reg -- \\\\.({value})$"
    raise RenderError(f"L7 rule {rule.id}: a FILE_TYPE rule compares only with "
                      f"EQUAL_TO or REGEX, not {rule.compare_type}")
