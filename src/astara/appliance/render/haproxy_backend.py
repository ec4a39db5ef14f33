"""The backends of the haproxy configuration (`render.haproxy`): one per pool and mode.

A pool serves in the mode of the listeners that use it (HTTP listener: `http`, else
`tcp`); used by listeners of both modes it gets one backend in each, and a pool no
listener uses yet gets one in its own protocol's mode, so its members are still
health-checked and reported. A backend's `timeout connect` / `timeout server` are
the largest its listeners ask for (haproxy sets them per backend, not per frontend),
so a shared pool never cuts a listener's connections before that listener would.
Combinations haproxy cannot serve raise `RenderError`, never render.

Health monitors: HTTP and HTTPS send the monitor's method, path, version and Host
and expect its codes; TCP connects; TLS-HELLO sends an SSL hello (`ssl-hello-chk`);
PING cannot be done by haproxy (it sends no ICMP): it is rendered as a TCP connect
check to the member's (monitor) port, which says whether the member accepts
connections rather than whether it answers pings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from astara.wire.loadbalancer_config import (
    HTTP_PROTOCOLS,
    HealthMonitor,
    Listener,
    LoadBalancer,
    Member,
    Pool,
)

_BALANCE = {"ROUND_ROBIN": "roundrobin", "LEAST_CONNECTIONS": "leastconn",
            "SOURCE_IP": "source", "SOURCE_IP_PORT": "hash src,concat(:,txn.sport)"}
_ESCAPED = re.compile(r"""([\\#'" ])""")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")  # a header or cookie name haproxy can take as is
DEFAULT_CONNECT, DEFAULT_DATA = 5000, 50000
STICK = "size 100k expire 30m"
COOKIE = "SRVID"  # HTTP_COOKIE persistence: the cookie haproxy inserts


class RenderError(ValueError):
    """The document asks for something haproxy cannot be configured to do."""


def escape(text: str | None) -> str:
    """One haproxy word: backslash before what the config parser would interpret."""
    assert text is not None
    return _ESCAPED.sub(r"\\\1", text)


def name_token(text: str | None, what: str) -> str:
    if text is None or not _NAME.match(text):
        raise RenderError(f"{what} {text!r}: only letters, digits, '_', '.' and '-'")
    return text


def address(ip: object, port: int | None = None) -> str:
    """haproxy's form of an address: IPv6 in brackets (a bare one loses its port)."""
    text = str(ip)
    if ":" in text:
        text = f"[{text}]"
    return text if port is None else f"{text}:{port}"


def listener_mode(listener: Listener) -> str:
    return "http" if listener.protocol in HTTP_PROTOCOLS else "tcp"


def backend_name(pool_id: str, mode: str) -> str:
    return f"{pool_id}:{mode}"


@dataclass(frozen=True)
class Uses:
    """Which (pool, mode) backends exist and the listeners behind each."""

    listeners: dict[tuple[str, str], list[Listener]]

    @classmethod
    def of(cls, lb: LoadBalancer) -> Uses:
        found: dict[tuple[str, str], list[Listener]] = {}
        for listener in lb.listeners:
            mode = listener_mode(listener)
            targets = [listener.default_pool_id,
                       *(p.redirect_pool_id for p in listener.l7policies)]
            for pool_id in dict.fromkeys(filter(None, targets)):
                found.setdefault((pool_id, mode), []).append(listener)
        for pool in lb.pools:
            if not any(key[0] == pool.id for key in found):
                found[(pool.id, "http" if pool.protocol == "HTTP" else "tcp")] = []
        return cls(found)


def backends(lb: LoadBalancer, uses: Uses) -> list[list[str]]:
    pools = {p.id: p for p in lb.pools}
    return [backend(pools[pool_id], mode, users)
            for (pool_id, mode), users in sorted(uses.listeners.items())]


def backend(pool: Pool, mode: str, users: list[Listener]) -> list[str]:
    connect = max((x.timeout_member_connect for x in users), default=DEFAULT_CONNECT)
    data = max((x.timeout_member_data for x in users), default=DEFAULT_DATA)
    lines = [
        f"backend {backend_name(pool.id, mode)}",
        f"    mode {mode}",
        f"    balance {_BALANCE[pool.lb_algorithm]}",
        f"    timeout connect {connect}ms",
        f"    timeout server {data}ms",
    ]
    if not pool.admin_state_up:
        lines.append("    disabled")
    if pool.lb_algorithm == "SOURCE_IP_PORT":
        lines.insert(2, "    tcp-request content set-var(txn.sport) src_port")
    lines += _persistence(pool, mode)
    monitor = pool.healthmonitor if pool.healthmonitor and pool.healthmonitor.admin_state_up \
        else None
    if monitor is not None:
        lines += _monitor(monitor)
    lines += [f"    {_server(pool, m, monitor, mode)}" for m in pool.members]
    return lines + [""]


def _persistence(pool: Pool, mode: str) -> list[str]:
    sp = pool.session_persistence
    if sp is None:
        return []
    if sp.type == "SOURCE_IP":
        return [f"    stick-table type ipv6 {STICK}", "    stick on src"]
    if mode != "http":
        raise RenderError(f"pool {pool.id}: {sp.type} persistence needs an HTTP listener "
                          f"(the pool is used in {mode} mode)")
    if sp.type == "HTTP_COOKIE":
        return [f"    cookie {COOKIE} insert indirect nocache"]
    cookie = name_token(sp.cookie_name, f"pool {pool.id}: cookie name")
    return [f"    stick-table type string len 64 {STICK}",
            f"    stick store-response res.cook({cookie})",
            f"    stick match req.cook({cookie})"]


def _monitor(hm: HealthMonitor) -> list[str]:
    lines = [f"    timeout check {hm.timeout}s"]
    if hm.type in ("HTTP", "HTTPS"):
        send = f"    http-check send meth {hm.http_method} uri {escape(hm.url_path)}"
        if hm.http_version:
            send += f" ver HTTP/{hm.http_version}"
        if hm.domain_name:
            send += f" hdr Host {hm.domain_name}"
        lines += ["    option httpchk", send, f"    http-check expect {expect(hm.expected_codes)}"]
    elif hm.type == "TLS-HELLO":
        lines.append("    option ssl-hello-chk")
    return lines  # TCP and PING: a plain connect check


MIN_FASTINTER_MS = 100


def fastinter_ms(hm: HealthMonitor) -> int:
    """The interval between checks while a member is changing state (after a first
    failure when `fall` > 1; after a first success when `rise` > 1).

    Octavia's `delay` is the time between two checks' starts, but haproxy waits its
    interval from the end of a check: a member that stops answering has each of its
    failing checks last up to the monitor's `timeout`, and with `inter` alone it would
    be taken out only after max_retries_down x (delay + timeout). With `fastinter` =
    delay - timeout, the failing checks start `delay` apart again, so the member is
    out within delay (the wait for the first failing check) + max_retries_down x
    timeout + (max_retries_down - 1) x (delay - timeout) = delay x max_retries_down +
    timeout: within "delay x max_retries_down + 1 s" for a timeout of 1 s, sooner
    when its connections are refused at once. At least 100 ms, so that a timeout
    equal to the delay does not turn into back-to-back checks. `downinter` stays the
    delay: a member found down is looked at as often as a healthy one.
    """
    return max(hm.delay * 1000 - hm.timeout * 1000, MIN_FASTINTER_MS)


def expect(codes: str) -> str:
    """`200`, `200-204` or `200,202` (Octavia's expected_codes) as an http-check rule."""
    wanted: list[int] = []
    for part in codes.split(","):
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        if not 100 <= first <= last <= 599:
            raise RenderError(f"expected_codes {codes!r}: {part} is no range of HTTP codes")
        wanted += range(first, last + 1)
    unique = sorted(set(wanted))
    if len(unique) == 1:
        return f"status {unique[0]}"
    return "rstatus ^(" + "|".join(str(c) for c in unique) + ")$"


def _server(pool: Pool, member: Member, monitor: HealthMonitor | None, mode: str) -> str:
    words = [f"server {member.id} {address(member.address, member.protocol_port)}",
             f"weight {member.weight}"]
    if member.backup:
        words.append("backup")
    if not member.admin_state_up:
        words.append("disabled")
    if monitor is not None:
        words.append(f"check inter {monitor.delay}s fastinter {fastinter_ms(monitor)}ms "
                     f"downinter {monitor.delay}s fall {monitor.max_retries_down} "
                     f"rise {monitor.max_retries}")
        if monitor.type == "HTTPS":
            words.append("check-ssl verify none")
        if member.monitor_address is not None:
            words.append(f"addr {address(member.monitor_address)}")
        if member.monitor_port is not None:
            words.append(f"port {member.monitor_port}")
    if pool.session_persistence and pool.session_persistence.type == "HTTP_COOKIE" \
            and mode == "http":
        words.append(f"cookie {member.id}")
    if pool.protocol == "PROXY":
        words.append("send-proxy")
    elif pool.protocol == "PROXYV2":
        words.append("send-proxy-v2")
    return " ".join(words)
