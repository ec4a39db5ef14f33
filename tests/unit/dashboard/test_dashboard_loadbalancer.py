"""A load balancer's page against the fake load-balancer API: listeners, pools, members
and health monitors listed, created and deleted with the session's project; another
project's load balancer, pool or subnet refused with nothing changed; the API's and the
forms' errors in plain words."""

from __future__ import annotations

import re

import pytest
from tests.dashboard_fake import FakeApis, csrf_of, login

from astara.dashboard import lb_forms
from astara.dashboard.clients import ApiError


@pytest.fixture
def fake():
    return FakeApis()


def lb_of(fake, project="p1"):
    return fake.add("loadbalancers", project, provisioning_status="ACTIVE",
                    operating_status="ONLINE", vip_address="10.0.0.9")


def posts(fake) -> list[str]:
    return [call[2] for call in fake.calls if call[0] in ("POST", "DELETE")]


def test_listener_pool_member_monitor_created_listed_and_deleted(fake):
    lb = lb_of(fake)
    subnet = fake.add("subnets", "p1", cidr="10.0.0.0/24", network_id="n1")
    c = login(fake)
    base = f"/loadbalancers/{lb['id']}"
    assert f'href="{base}"' in c.get("/loadbalancers").text
    token = csrf_of(c, base)
    r = c.post(f"{base}/listeners", data={"csrf": token, "back": base, "name": "web",
                                          "protocol": "HTTP", "protocol_port": "80"})
    assert "Listener on port 80 requested." in r.text
    [listener] = fake.store["listeners"].values()
    assert listener["loadbalancers"] == [{"id": lb["id"]}] and listener["project_id"] == "p1"
    c.post(f"{base}/pools", data={"csrf": token, "back": base, "name": "backends",
                                  "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                                  "listener_id": listener["id"]})
    [pool] = fake.store["pools"].values()
    assert pool["listener_id"] == listener["id"]
    r = c.post(f"{base}/members", data={"csrf": token, "back": base, "pool_id": pool["id"],
                                        "address": "10.0.0.5", "protocol_port": "8080",
                                        "subnet_id": subnet["id"]})
    assert "Member 10.0.0.5:8080 requested." in r.text
    [member] = fake.store["members"].values()
    assert member["subnet_id"] == subnet["id"]
    c.post(f"{base}/healthmonitors", data={"csrf": token, "back": base, "pool_id": pool["id"],
                                           "type": "HTTP", "delay": "5", "timeout": "3",
                                           "max_retries": "3"})
    [monitor] = fake.store["healthmonitors"].values()
    assert monitor["pools"] == [{"id": pool["id"]}] and monitor["delay"] == 5
    page = c.get(base).text
    for item in (listener, pool, member, monitor):
        assert item["id"] in page
    assert "10.0.0.5:8080" in page and "5 s / 3 s / 3" in page

    c.post(f"{base}/pools/{pool['id']}/members/{member['id']}/delete", data={"csrf": token})
    for kind, item in (("healthmonitors", monitor), ("listeners", listener),
                       ("pools", pool)):
        r = c.post(f"{base}/{kind}/{item['id']}/delete", data={"csrf": token, "back": base})
        assert "deletion requested." in r.text
    assert not any(fake.store[k] for k in ("listeners", "pools", "members", "healthmonitors"))


def test_another_projects_load_balancer_and_children_are_not_reachable(fake):
    theirs = lb_of(fake, "p2")
    their_pool = fake.add("pools", "p2", loadbalancers=[{"id": theirs["id"]}])
    their_subnet = fake.add("subnets", "p2", cidr="10.9.0.0/24", network_id="n2")
    their_listener = fake.add("listeners", "p2", loadbalancers=[{"id": theirs["id"]}])
    mine = lb_of(fake)
    my_pool = fake.add("pools", "p1", loadbalancers=[{"id": mine["id"]}])
    for role in ("member", "admin"):
        c = login(fake, role=role)
        assert c.get(f"/loadbalancers/{theirs['id']}").status_code == 404
        token = csrf_of(c, "/instances")
        base = f"/loadbalancers/{mine['id']}"
        for path, data in (
                (f"/loadbalancers/{theirs['id']}/listeners",
                 {"protocol": "HTTP", "protocol_port": "80"}),
                (f"{base}/members", {"pool_id": their_pool["id"], "address": "10.0.0.5",
                                     "protocol_port": "80"}),
                (f"{base}/members", {"pool_id": my_pool["id"], "address": "10.0.0.5",
                                     "protocol_port": "80", "subnet_id": their_subnet["id"]}),
                (f"{base}/listeners", {"protocol": "HTTP", "protocol_port": "81",
                                       "default_pool_id": their_pool["id"]}),
                (f"{base}/pools", {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                                   "listener_id": their_listener["id"]}),
                (f"{base}/healthmonitors", {"pool_id": their_pool["id"], "type": "HTTP",
                                            "delay": "5", "timeout": "3",
                                            "max_retries": "3"}),
                (f"{base}/pools/{their_pool['id']}/delete", {})):
            r = c.post(path, data={"csrf": token, "back": base, **data})
            assert 'class="flash error"' in r.text, path
            assert re.search(r"No (load balancer|pool|subnet|listener) \S+ (in project p1|"
                             r"on this load balancer)|"
                             r"The load-balancer API says: (Pool|Load Balancer|Listener) not found",
                             r.text), path
        assert posts(fake) == [], role
    assert their_pool["id"] in fake.store["pools"]


def test_api_and_form_errors_are_plain_words(fake):
    lb = lb_of(fake)
    c = login(fake)
    base = f"/loadbalancers/{lb['id']}"
    token = csrf_of(c, base)
    r = c.post(f"{base}/listeners", data={"csrf": token, "back": base, "protocol": "HTTP",
                                          "protocol_port": "666"})
    assert r.status_code == 200
    assert "The load-balancer API says: Load Balancer is immutable and cannot be updated." \
        in r.text
    r = c.post(f"{base}/listeners", data={"csrf": token, "back": base, "protocol": "HTTP",
                                          "protocol_port": "eighty"})
    assert "The port must be a whole number from 1 to 65535." in r.text
    assert not fake.store["listeners"]
    assert c.post(f"{base}/listeners", data={"protocol": "HTTP", "protocol_port": "80"}
                  ).status_code == 403  # no CSRF token
    assert c.post(f"{base}/widgets/x/delete", data={"csrf": token}).status_code == 200
    assert posts(fake) == ["/v2/lbaas/listeners"]  # only the refused 666


@pytest.mark.parametrize("args, said", [
    (("HTTP", "0"), "from 1 to 65535"), (("HTTP", "65536"), "from 1 to 65535"),
    (("HTTP", "²"), "whole number"), (("SCTP", "80"), "Choose a listener protocol"),
])
def test_listener_form_refusals(args, said):
    with pytest.raises(ApiError, match=said):
        lb_forms.listener("n", *args)


def test_forms_make_octavia_bodies():
    assert lb_forms.listener(" web ", "TCP", " 443 ") == {
        "name": "web", "protocol": "TCP", "protocol_port": 443}
    assert lb_forms.pool("", "HTTP", "SOURCE_IP")["lb_algorithm"] == "SOURCE_IP"
    assert lb_forms.member("", "10.0.0.5", "80") == {"name": "", "address": "10.0.0.5",
                                                     "protocol_port": 80}
    assert lb_forms.healthmonitor("", "PING", "5", "3", "2")["max_retries"] == 2
    with pytest.raises(ApiError, match="number of retries"):
        lb_forms.healthmonitor("", "PING", "5", "3", "11")
    with pytest.raises(ApiError, match="IP address"):
        lb_forms.member("", " ", "80")
