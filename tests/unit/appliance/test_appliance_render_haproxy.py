"""The haproxy renderer: each feature of the loadbalancer section, as configuration text."""

from pathlib import Path

import pytest

from astara.appliance.render import haproxy
from astara.appliance.render.haproxy_backend import RenderError, escape, expect
from astara.wire import DocumentError, parse_config
from astara.wire.examples import loadbalancer_document

STATE = Path("/var/lib/astara/appliance/lb1")


def lb(**overrides):
    return parse_config(loadbalancer_document(**overrides)).loadbalancer


def section(text: str, header: str) -> list[str]:
    """The lines of one section (`frontend x`, `backend y:http`), stripped."""
    lines = text.splitlines()
    start = lines.index(header)
    out = []
    for line in lines[start + 1:]:
        if not line.startswith("    "):
            break
        out.append(line.strip())
    return out


def http_listener(**kw):
    return {"id": "l1", "protocol": "HTTP", "protocol_port": 80, "default_pool_id": "p1", **kw}


def pool(pid="p1", protocol="HTTP", **kw):
    members = kw.pop("members", [{"id": "m1", "address": "192.0.2.21", "protocol_port": 8080}])
    return {"id": pid, "protocol": protocol, "lb_algorithm": "ROUND_ROBIN",
            "members": members, **kw}


def render(listeners, pools, **kw) -> str:
    return haproxy.render(lb(listeners=listeners, pools=pools, **kw), STATE)


class Refused(Exception):
    pass


def refused(listeners, pools) -> str:
    """Why the document's contract or the renderer refuses these (the first that does)."""
    try:
        render(listeners, pools)
    except DocumentError as exc:
        return " ".join(e["msg"] for e in exc.errors)
    except RenderError as exc:
        return str(exc)
    raise Refused("rendered")


def test_global_is_master_worker_with_a_private_stats_socket_for_seamless_reloads():
    text = haproxy.render(lb(), STATE, ("haproxy", "haproxy"))
    glob = section(text, "global")
    assert "master-worker" in glob
    sock = haproxy.paths(STATE)["sock"]
    assert f"stats socket {sock} mode 600 level admin expose-fd listeners" in glob
    # short enough for a unix socket (haproxy: 97 bytes) whatever the state directory,
    # and one per appliance
    deep = STATE / ("x" * 200)
    assert len(str(haproxy.paths(deep)["sock"])) < 97
    assert haproxy.paths(deep)["sock"] != sock
    assert "user haproxy" in glob and "group haproxy" in glob
    assert "user" not in " ".join(section(haproxy.render(lb(), STATE), "global"))


def test_a_frontend_per_listener_on_the_vip_with_its_mode_and_default_backend():
    text = haproxy.render(lb(), STATE)
    http, tcp = section(text, "frontend listener-http"), section(text, "frontend listener-tcp")
    assert "bind 192.0.2.10:80" in http and "mode http" in http
    assert "default_backend pool-http:http" in http
    assert "bind 192.0.2.10:443" in tcp and "mode tcp" in tcp
    assert "default_backend pool-tcp:tcp" in tcp
    assert not any(line.startswith("maxconn") for line in http)  # no limit asked


def test_listener_limits_timeouts_and_allowed_cidrs():
    text = render([http_listener(connection_limit=100, timeout_client_data=1000,
                                 timeout_member_connect=2000, timeout_member_data=3000,
                                 timeout_tcp_inspect=400,
                                 allowed_cidrs=["10.0.0.0/8", "fd00::/64"])], [pool()])
    front = section(text, "frontend l1")
    assert "maxconn 100" in front and "timeout client 1000ms" in front
    assert "tcp-request inspect-delay 400ms" in front
    assert "tcp-request connection reject if !{ src 10.0.0.0/8 fd00::/64 }" in front
    back = section(text, "backend p1:http")
    assert "timeout connect 2000ms" in back and "timeout server 3000ms" in back


def test_admin_down_listener_or_load_balancer_is_disabled():
    assert "disabled" in section(render([http_listener(admin_state_up=False)], [pool()]),
                                 "frontend l1")
    assert "disabled" in section(render([http_listener()], [pool()], admin_state_up=False),
                                 "frontend l1")
    assert "disabled" not in section(render([http_listener()], [pool()]), "frontend l1")


def test_ipv6_vip_and_member_are_bracketed():
    doc = loadbalancer_document(vip_address="fd00:1::10", listeners=[http_listener()],
                                pools=[pool(members=[{"id": "m1", "address": "fd00:1::21",
                                                      "protocol_port": 80,
                                                      "monitor_address": "fd00:1::22"}],
                                            healthmonitor={"id": "h", "type": "TCP",
                                                           "delay": 1, "timeout": 1,
                                                           "max_retries": 1})])
    doc["networks"][1]["interface"]["addresses"] = ["fd00:1::10/64"]
    doc["networks"][1]["subnets"] = [{"cidr": "fd00:1::/64", "dhcp_enabled": False}]
    doc["default_v4_gateway"] = None
    text = haproxy.render(parse_config(doc).loadbalancer, STATE)
    assert "bind [fd00:1::10]:80" in section(text, "frontend l1")
    assert ("server m1 [fd00:1::21]:80 weight 1 check inter 1s fastinter 100ms downinter 1s "
            "fall 3 rise 1 addr [fd00:1::22]") in section(text, "backend p1:http")


@pytest.mark.parametrize("algorithm,balance", [
    ("ROUND_ROBIN", "balance roundrobin"), ("LEAST_CONNECTIONS", "balance leastconn"),
    ("SOURCE_IP", "balance source"), ("SOURCE_IP_PORT", "balance hash src,concat(:,txn.sport)"),
])
def test_balance_algorithms(algorithm, balance):
    back = section(render([http_listener()], [pool(lb_algorithm=algorithm)]), "backend p1:http")
    assert balance in back
    assert ("tcp-request content set-var(txn.sport) src_port" in back) == (
        algorithm == "SOURCE_IP_PORT")


def test_members_weight_backup_disabled_and_proxy_protocol():
    members = [
        {"id": "m1", "address": "192.0.2.21", "protocol_port": 80, "weight": 5},
        {"id": "m2", "address": "192.0.2.22", "protocol_port": 80, "backup": True},
        {"id": "m3", "address": "192.0.2.23", "protocol_port": 80, "admin_state_up": False},
    ]
    back = section(render([http_listener()], [pool(protocol="PROXY", members=members)]),
                   "backend p1:http")
    assert "server m1 192.0.2.21:80 weight 5 send-proxy" in back
    assert "server m2 192.0.2.22:80 weight 1 backup send-proxy" in back
    assert "server m3 192.0.2.23:80 weight 1 disabled send-proxy" in back
    v2 = section(render([http_listener()], [pool(protocol="PROXYV2")]), "backend p1:http")
    assert "server m1 192.0.2.21:8080 weight 1 send-proxy-v2" in v2


def test_admin_down_pool_is_a_disabled_backend():
    assert "disabled" in section(render([http_listener()], [pool(admin_state_up=False)]),
                                 "backend p1:http")


def test_session_persistence():
    src = section(render([http_listener()], [pool(session_persistence={"type": "SOURCE_IP"})]),
                  "backend p1:http")
    assert "stick on src" in src and any(x.startswith("stick-table type ipv6") for x in src)
    cookie = section(render([http_listener()],
                            [pool(session_persistence={"type": "HTTP_COOKIE"})]),
                     "backend p1:http")
    assert "cookie SRVID insert indirect nocache" in cookie
    assert "server m1 192.0.2.21:8080 weight 1 cookie m1" in cookie
    app = section(render([http_listener()], [pool(session_persistence={
        "type": "APP_COOKIE", "cookie_name": "JSESSIONID"})]), "backend p1:http")
    assert "stick store-response res.cook(JSESSIONID)" in app
    assert "stick match req.cook(JSESSIONID)" in app


@pytest.mark.parametrize("kind", ["HTTP_COOKIE", "APP_COOKIE"])
def test_cookie_persistence_in_tcp_mode_never_renders(kind):
    listener = {"id": "l1", "protocol": "TCP", "protocol_port": 80, "default_pool_id": "p1"}
    # the document's contract refuses it first; the renderer would too
    assert "needs an HTTP listener" in refused(
        [listener], [pool(session_persistence={"type": kind, "cookie_name": "c"})])


def test_app_cookie_name_haproxy_cannot_take_never_renders():
    assert "should match pattern" in refused(
        [http_listener()], [pool(session_persistence={"type": "APP_COOKIE",
                                                      "cookie_name": "a(b)"})])


def _hm(kind, **kw):
    return {"id": "hm", "type": kind, "delay": 3, "timeout": 2, "max_retries": 2,
            "max_retries_down": 4, **kw}


def test_http_monitor():
    back = section(render([http_listener()], [pool(healthmonitor=_hm(
        "HTTP", http_method="HEAD", url_path="/health", http_version="1.1",
        domain_name="example.com", expected_codes="200-202,204"))]), "backend p1:http")
    assert "option httpchk" in back and "timeout check 2s" in back
    assert "http-check send meth HEAD uri /health ver HTTP/1.1 hdr Host example.com" in back
    assert "http-check expect rstatus ^(200|201|202|204)$" in back
    assert ("server m1 192.0.2.21:8080 weight 1 check inter 3s fastinter 1000ms downinter 3s "
            "fall 4 rise 2") in back


def test_https_monitor_checks_over_tls():
    back = section(render([{"id": "l1", "protocol": "TCP", "protocol_port": 443,
                            "default_pool_id": "p1"}],
                          [pool(protocol="HTTPS", healthmonitor=_hm("HTTPS"))]),
                   "backend p1:tcp")
    assert "option httpchk" in back
    assert any("check-ssl verify none" in x for x in back if x.startswith("server"))


@pytest.mark.parametrize("kind", ["TCP", "PING"])
def test_tcp_and_ping_monitors_are_connect_checks(kind):
    back = section(render([http_listener()], [pool(healthmonitor=_hm(kind))]),
                   "backend p1:http")
    assert "option httpchk" not in back and "option ssl-hello-chk" not in back
    assert ("server m1 192.0.2.21:8080 weight 1 check inter 3s fastinter 1000ms downinter 3s "
            "fall 4 rise 2") in back


def test_tls_hello_monitor():
    listener = {"id": "l1", "protocol": "TCP", "protocol_port": 443, "default_pool_id": "p1"}
    back = section(render([listener], [pool(protocol="TCP", healthmonitor=_hm("TLS-HELLO"))]),
                   "backend p1:tcp")
    assert "option ssl-hello-chk" in back
    assert not any("check-ssl" in x for x in back)


def test_monitor_address_and_port_and_admin_down_monitor():
    members = [{"id": "m1", "address": "192.0.2.21", "protocol_port": 80,
                "monitor_address": "192.0.2.99", "monitor_port": 9000}]
    back = section(render([http_listener()], [pool(members=members, healthmonitor=_hm("TCP"))]),
                   "backend p1:http")
    assert ("server m1 192.0.2.21:80 weight 1 check inter 3s fastinter 1000ms downinter 3s "
            "fall 4 rise 2 addr 192.0.2.99 port 9000") in back
    off = section(render([http_listener()], [pool(healthmonitor=_hm("TCP",
                                                                    admin_state_up=False))]),
                  "backend p1:http")
    assert "server m1 192.0.2.21:8080 weight 1" in off and "timeout check 2s" not in off


@pytest.mark.parametrize("codes,rule", [
    ("200", "status 200"), ("200,202", "rstatus ^(200|202)$"),
    ("301-303", "rstatus ^(301|302|303)$"), ("200-200", "status 200"),
])
def test_expected_codes(codes, rule):
    assert expect(codes) == rule


@pytest.mark.parametrize("codes", ["204-200", "099", "600", "200-700"])
def test_expected_codes_that_are_no_http_codes_never_render(codes):
    with pytest.raises(RenderError):
        expect(codes)


def test_pool_used_in_two_modes_gets_a_backend_per_mode_with_the_largest_timeouts():
    listeners = [http_listener(timeout_member_data=1000),
                 {"id": "l2", "protocol": "TCP", "protocol_port": 81, "default_pool_id": "p1",
                  "timeout_member_data": 7000},
                 {"id": "l3", "protocol": "TCP", "protocol_port": 82, "default_pool_id": "p1",
                  "timeout_member_data": 9000}]
    text = render(listeners, [pool()])
    assert "timeout server 1000ms" in section(text, "backend p1:http")
    assert "timeout server 9000ms" in section(text, "backend p1:tcp")
    assert "default_backend p1:tcp" in section(text, "frontend l2")


def test_unused_pool_is_rendered_in_its_protocols_mode():
    text = render([http_listener()], [pool(), pool("p2", protocol="TCP")])
    assert "mode tcp" in section(text, "backend p2:tcp")


def _policy(pid, position, action, rules, **kw):
    return {"id": pid, "position": position, "action": action, "rules": rules, **kw}


def _rule(rid, kind, compare, value, **kw):
    return {"id": rid, "type": kind, "compare_type": compare, "value": value, **kw}


def test_l7_policies_in_position_order_first_match_wins():
    policies = [
        _policy("deny", 4, "REJECT", [_rule("r4", "HEADER", "EQUAL_TO", "1", key="X-Bad")]),
        _policy("to-url", 2, "REDIRECT_TO_URL",
                [_rule("r2", "HOST_NAME", "ENDS_WITH", "old.example.com")],
                redirect_url="https://new.example.com/", redirect_http_code=301),
        _policy("to-pool", 1, "REDIRECT_TO_POOL",
                [_rule("r1a", "PATH", "STARTS_WITH", "/api"),
                 _rule("r1b", "COOKIE", "CONTAINS", "beta", key="flags", invert=True)],
                redirect_pool_id="p2"),
        _policy("prefix", 3, "REDIRECT_PREFIX",
                [_rule("r3", "FILE_TYPE", "EQUAL_TO", "jpg")], redirect_prefix="https://img"),
    ]
    text = render([http_listener(l7policies=policies)], [pool(), pool("p2")])
    front = section(text, "frontend l1")
    assert front[front.index("acl r1a path -m beg -- /api"):][:6] == [
        "acl r1a path -m beg -- /api",
        "acl r1b req.cook(flags) -m sub -- beta",
        "acl r2 req.hdr(host),field(1,:) -i -m end -- old.example.com",
        "acl r3 path -m end -- .jpg",
        "acl r4 req.hdr(X-Bad) -m str -- 1",
        "http-request set-var(txn.l7pool) str(p2:http) if r1a !r1b "
        "!{ var(txn.l7pool) -m found }",
    ]
    rest = front[front.index("acl r4 req.hdr(X-Bad) -m str -- 1") + 2:]
    assert rest == [
        "http-request redirect code 301 location https://new.example.com/ if r2 "
        "!{ var(txn.l7pool) -m found }",
        "http-request redirect code 302 prefix https://img if r3 !{ var(txn.l7pool) -m found }",
        "http-request deny if r4 !{ var(txn.l7pool) -m found }",
        "use_backend %[var(txn.l7pool)] if { var(txn.l7pool) -m found }",
        "default_backend p1:http",
    ]
    assert "backend p2:http" in text.splitlines()


def test_disabled_policies_and_rules_and_policies_without_rules_are_left_out():
    policies = [
        _policy("off", 1, "REJECT", [_rule("r1", "PATH", "EQUAL_TO", "/x")],
                admin_state_up=False),
        _policy("empty", 2, "REJECT", []),
        _policy("half", 3, "REJECT", [_rule("r3a", "PATH", "EQUAL_TO", "/y"),
                                      _rule("r3b", "PATH", "EQUAL_TO", "/z",
                                            admin_state_up=False)]),
        _policy("all-off", 4, "REJECT", [_rule("r4", "PATH", "EQUAL_TO", "/w",
                                               admin_state_up=False)]),
    ]
    front = section(render([http_listener(l7policies=policies)], [pool()]), "frontend l1")
    assert [x for x in front if x.startswith(("acl", "http-request"))] == [
        "acl r3a path -m str -- /y",
        "http-request deny if r3a !{ var(txn.l7pool) -m found }",
    ]
    assert not any(x.startswith("use_backend") for x in front)


@pytest.mark.parametrize("compare,acl", [
    ("REGEX", "path -m reg -- ^/a\\\\.b\\#c"), ("STARTS_WITH", "path -m beg -- ^/a\\\\.b\\#c"),
])
def test_tenant_values_are_escaped(compare, acl):
    policies = [_policy("p", 1, "REJECT", [_rule("r", "PATH", compare, "^/a\\.b#c")])]
    front = section(render([http_listener(l7policies=policies)], [pool()]), "frontend l1")
    assert f"acl r {acl}" in front


def test_escape():
    assert escape("a b#c'd\"e\\f") == "a\\ b\\#c\\'d\\\"e\\\\f"


def test_file_type_regex_and_unsupported_compare():
    ok = [_policy("p", 1, "REJECT", [_rule("r", "FILE_TYPE", "REGEX", "jpe?g|png")])]
    front = section(render([http_listener(l7policies=ok)], [pool()]), "frontend l1")
    assert "acl r path -m reg -- \\\\.(jpe?g|png)$" in front
    bad = [_policy("p", 1, "REJECT", [_rule("r", "FILE_TYPE", "STARTS_WITH", "jp")])]
    with pytest.raises(RenderError, match="FILE_TYPE"):
        render([http_listener(l7policies=bad)], [pool()])


def test_header_name_haproxy_cannot_take_never_renders():
    bad = [_policy("p", 1, "REJECT", [_rule("r", "HEADER", "EQUAL_TO", "x", key="X-a,b")])]
    assert "should match pattern" in refused([http_listener(l7policies=bad)], [pool()])
