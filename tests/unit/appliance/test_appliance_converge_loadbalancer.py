"""Converge a load balancer document against the in-tree fakes: haproxy started,
reloaded, refused and stopped; no forwarding, no dnsmasq; its status."""

import pytest

from astara.appliance import status as status_mod
from astara.appliance.render.haproxy import paths
from astara.wire import DocumentError, parse_config
from astara.wire.examples import loadbalancer_document, router_config

STAT = ("# pxname,svname,scur,stot,status\n"
        "listener-http,FRONTEND,1,7,OPEN\nlistener-tcp,FRONTEND,0,2,OPEN\n"
        "pool-http:http,member-1,0,4,UP\npool-http:http,member-2,0,3,DOWN\n"
        "pool-http:http,BACKEND,1,7,UP\npool-tcp:tcp,member-3,0,2,UP\n")


def lb_config(**overrides):
    return parse_config(loadbalancer_document(**overrides))


def with_member(weight):
    doc = loadbalancer_document()
    doc["loadbalancer"]["pools"][0]["members"][0]["weight"] = weight
    return parse_config(doc)


@pytest.fixture
def haproxy(appliance):
    return appliance.ports.haproxy


def test_load_balancer_starts_haproxy_and_nothing_forwards(appliance, haproxy):
    written: dict[str, str] = {}
    appliance.ports.sysctl = written.__setitem__
    result = appliance.apply(lb_config())
    assert result.error is None and result.haproxy == "start" and result.dhcp == []
    assert appliance.ports.dnsmasq.log == []
    assert written["net.ipv4.ip_forward"] == "0"
    assert written["net.ipv6.conf.all.forwarding"] == "1"  # so it takes no RA; drops anyway
    conf = paths(appliance.state_dir)["conf"]
    assert "frontend listener-http" in conf.read_text()
    assert conf.stat().st_mode & 0o077 == 0
    assert list(haproxy.pids) == [conf]
    ruleset = appliance.ports.nft.loads[-1][1]
    assert 'iifname { "ge2" } ip daddr 192.0.2.10 tcp dport { 80, 443 } accept' in ruleset
    assert 'iifname { "ge0" } tcp dport 5000 accept' in ruleset
    assert "type nat" not in ruleset and "dport 53" not in ruleset
    assert ("chain forward {\n    type filter hook forward priority filter; policy drop;\n"
            "  }") in ruleset


def test_identical_push_is_a_noop_and_restarts_a_dead_haproxy(appliance, haproxy):
    appliance.apply(lb_config())
    assert not appliance.apply(lb_config()).changed
    haproxy.pids.clear()  # it died
    again = appliance.apply(lb_config())
    assert again.error is None and again.haproxy == "start" and again.nft == "none"
    assert [kind for kind, _ in haproxy.log] == ["start", "start"]


def test_a_change_reloads_the_running_haproxy(appliance, haproxy):
    appliance.apply(lb_config())
    (pid,) = haproxy.pids.values()
    result = appliance.apply(with_member(7))
    assert result.error is None and result.haproxy == "reload"
    assert haproxy.log[-1] == ("reload", pid) and list(haproxy.pids.values()) == [pid]
    assert "server member-1 192.0.2.21:8080 weight 7" in paths(
        appliance.state_dir)["conf"].read_text()


def test_a_config_haproxy_refuses_keeps_the_old_one_and_is_reported(appliance, haproxy):
    appliance.apply(lb_config())
    conf = paths(appliance.state_dir)["conf"]
    good = conf.read_text()
    haproxy.refuse = "weight 9"
    result = appliance.apply(with_member(9))
    assert result.error == "haproxy -c refused the configuration: weight 9"
    assert not result.rejected and appliance.last_error == result.error
    assert conf.read_text() == good and [k for k, _ in haproxy.log] == ["start"]
    assert appliance.config == lb_config()
    status = status_mod.status(appliance)
    assert status.last_error == result.error
    service = next(s for s in status.services if s.name == "haproxy")
    assert not service.healthy and "older configuration" in service.detail


def test_what_haproxy_cannot_serve_is_rejected_before_any_change(appliance, haproxy,
                                                                 netlink):
    doc = loadbalancer_document()
    doc["loadbalancer"]["pools"][1]["session_persistence"] = {"type": "HTTP_COOKIE"}
    # the document's contract refuses it (the API's 422) before the agent looks at it
    with pytest.raises(DocumentError) as caught:
        parse_config(doc)
    assert "needs an HTTP listener" in str(caught.value.errors)
    doc["loadbalancer"]["listeners"][0]["l7policies"] = [
        {"id": "p", "action": "REJECT", "position": 1, "rules": [
            {"id": "r", "type": "FILE_TYPE", "compare_type": "STARTS_WITH", "value": "jpg"}]}]
    doc["loadbalancer"]["pools"][1]["session_persistence"] = None
    result = appliance.apply(parse_config(doc))  # one the renderer alone refuses
    assert result.rejected and "FILE_TYPE" in result.error
    assert netlink.log == [] and haproxy.log == [] and appliance.ports.nft.loads == []


def test_document_without_loadbalancer_stops_haproxy_and_removes_its_files(appliance,
                                                                          haproxy):
    appliance.apply(lb_config())
    result = appliance.apply(router_config())
    assert result.error is None and result.haproxy == "stop" and haproxy.pids == {}
    assert not paths(appliance.state_dir)["conf"].exists()
    assert result.dhcp == ["start ge2", "start ge3"]


def test_teardown_stops_haproxy(appliance, haproxy):
    appliance.apply(lb_config())
    appliance.teardown()
    assert haproxy.pids == {} and not any(appliance.state_dir.iterdir())


def test_status_has_haproxy_and_the_load_balancer_health(appliance, haproxy):
    appliance.apply(lb_config())
    haproxy.stat = STAT
    pids: list[int] = []
    status = status_mod.status(appliance, pids)
    service = next(s for s in status.services if s.name == "haproxy")
    assert service.healthy and pids == list(haproxy.pids.values())
    lb = status.loadbalancer
    assert lb is not None and lb.operating_status == "DEGRADED"
    pools = {p.id: p for p in lb.pools}
    assert [(m.id, m.operating_status) for m in pools["pool-http"].members] == [
        ("member-1", "ONLINE"), ("member-2", "ERROR")]
    assert pools["pool-http"].operating_status == "DEGRADED"
    assert pools["pool-tcp"].operating_status == "ONLINE"
    assert [x.counters.total_connections for x in lb.listeners] == [7, 2]


def test_status_of_a_router_has_no_load_balancer(appliance):
    appliance.apply(router_config())
    status = status_mod.status(appliance)
    assert status.loadbalancer is None
    assert "haproxy" not in {s.name for s in status.services}


def test_a_load_balancers_status_is_never_kept(appliance):
    cache = status_mod.Cache()
    cache.watched = True
    appliance.apply(router_config())
    cache.store(cache.mark(appliance), b"router")
    assert cache.get(appliance) == b"router"
    appliance.apply(lb_config())
    cache.store(cache.mark(appliance), b"lb")
    assert cache.get(appliance) is None
