"""The dashboard app through Starlette's TestClient against the in-tree fake APIs:
login, CSRF, project scoping, plain errors, the tenant and admin actions."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from tests.dashboard_fake import ADMIN_PASSWORD, RPC_TOKEN, FakeApis, csrf_of, login, settings

from astara.dashboard.app import create_app

SECRET = b"s" * 32


@pytest.fixture
def fake():
    return FakeApis()


def client_for(fake: FakeApis, project: str = "p1", role: str = "member") -> TestClient:
    return login(fake, project, role)


def csrf(c: TestClient, path: str = "/instances") -> str:
    return csrf_of(c, path)


def mutations(fake: FakeApis) -> list:
    return [call for call in fake.calls if call[0] != "GET"]


def test_login_cookie_is_signed_httponly_strict(fake):
    app = create_app(settings(), SECRET, RPC_TOKEN, transport=fake.transport())
    c = TestClient(app)
    assert c.get("/instances", follow_redirects=False).headers["location"] == "/login"
    r = c.post("/login", data={"project": "p1", "role": "member"}, follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert r.headers["location"] == "/instances"
    assert "p1" in c.get("/instances").text
    bad = c.post("/login", data={"project": "", "role": "root"})
    assert bad.status_code == 400
    forged = c.post("/login", data={"project": "p2", "role": "admin"},
                    headers={"Origin": "http://evil.example"}, follow_redirects=False)
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    same = c.post("/login", data={"project": "p3", "role": "member"},
                  headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert same.status_code == 303


def test_only_allowed_host_names_are_answered(fake):
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: refused before any
    page (a login included) is served."""
    app = create_app(settings(allowed_hosts=()), SECRET, RPC_TOKEN,
                     transport=fake.transport(), admin_password=ADMIN_PASSWORD)
    for base in ("http://127.0.0.1:8080", "http://localhost:8080"):
        c = TestClient(app, base_url=base)
        assert c.get("/login").status_code == 200
        r = c.post("/login", data={"project": "p1", "role": "member"},
                   headers={"Origin": base}, follow_redirects=False)
        assert r.status_code == 303
    evil = TestClient(app, base_url="http://rebind.evil.example:8080")
    assert evil.get("/login").status_code == 400
    r = evil.post("/login", data={"project": "p1", "role": "member"},
                  headers={"Origin": "http://rebind.evil.example:8080"},
                  follow_redirects=False)
    assert r.status_code == 400 and "set-cookie" not in r.headers
    assert not fake.calls
    proxied = create_app(settings(allowed_hosts=("dash.example",),
                                  public_origin="https://dash.example"),
                         SECRET, RPC_TOKEN, transport=fake.transport())
    c = TestClient(proxied, base_url="http://dash.example")  # TLS ended at the proxy
    ok = c.post("/login", data={"project": "p1", "role": "member"},
                headers={"Origin": "https://dash.example"}, follow_redirects=False)
    assert ok.status_code == 303
    bad = c.post("/login", data={"project": "p1", "role": "member"},
                 headers={"Origin": "http://dash.example"}, follow_redirects=False)
    assert bad.status_code == 403


def test_the_admin_role_needs_the_admin_password(fake):
    def login(app, **form):
        return TestClient(app).post("/login", data={"project": "p1", "role": "admin",
                                                    **form}, follow_redirects=False)
    app = create_app(settings(), SECRET, RPC_TOKEN, transport=fake.transport(),
                     admin_password=ADMIN_PASSWORD)
    for form in ({}, {"admin_password": ""}, {"admin_password": "guess"}):
        r = login(app, **form)
        assert r.status_code == 403 and "set-cookie" not in r.headers
        assert "Wrong admin password" in r.text
    assert login(app, admin_password=ADMIN_PASSWORD.decode()).status_code == 303
    off = create_app(settings(), SECRET, RPC_TOKEN, transport=fake.transport())
    r = login(off, admin_password="")
    assert r.status_code == 403 and "Admin login is off" in r.text
    assert "set-cookie" not in r.headers
    member = TestClient(off).post("/login", data={"project": "p1", "role": "member"},
                                  follow_redirects=False)
    assert member.status_code == 303


def test_every_api_call_carries_the_session_project(fake):
    c = client_for(fake, "p1")
    token = csrf(c, "/networks")
    c.post("/networks", data={"csrf": token, "name": "n", "cidr": "10.0.0.0/24",
                              "project_id": "p2"})  # a forged field changes nothing
    assert fake.calls and {call[3] for call in fake.calls} == {"p1"}
    assert [n["project_id"] for n in fake.store["networks"].values()] == ["p1"]


def test_post_without_or_with_a_foreign_csrf_token_is_refused(fake):
    c = client_for(fake, "p1")
    before = len(mutations(fake))
    r = c.post("/networks", data={"name": "n"})
    assert r.status_code == 403 and "CSRF" in r.text
    other = client_for(fake, "p1")
    r = c.post("/networks", data={"name": "n", "csrf": csrf(other, "/networks")})
    assert r.status_code == 403
    assert len(mutations(fake)) == before and not fake.store["networks"]


def test_another_projects_resources_are_not_reachable_even_as_admin(fake):
    theirs = fake.add("routers", "p2", name="theirs", status="ACTIVE", routes=[],
                      external_gateway_info=None)
    their_net = fake.add("networks", "p2", name="their-net")
    for role in ("member", "admin"):
        c = client_for(fake, "p1", role)
        token = csrf(c, "/routers")
        assert c.get(f"/routers/{theirs['id']}").status_code == 404
        assert "theirs" not in c.get("/routers").text
        assert "their-net" not in c.get("/networks").text
        before = len(mutations(fake))
        r = c.post(f"/routers/{theirs['id']}/delete", data={"csrf": token,
                                                             "back": "/routers"})
        assert r.status_code == 200 and "No router" in r.text
        c.post(f"/networks/{their_net['id']}/delete", data={"csrf": token})
        assert len(mutations(fake)) == before
    assert theirs["id"] in fake.store["routers"] and their_net["id"] in fake.store["networks"]


def test_ids_in_forms_must_be_the_session_projects(fake):
    """An admin's APIs would take another project's subnet, port or network: the
    dashboard looks each one up in the session's project first and says "not found"."""
    mine = fake.add("routers", "p1", name="mine", status="ACTIVE", routes=[],
                    external_gateway_info=None)
    fip = fake.add("floatingips", "p1", floating_ip_address="172.24.4.9", port_id=None)
    their_net = fake.add("networks", "p2", name="their-net")
    their_sub = fake.add("subnets", "p2", network_id=their_net["id"], cidr="10.2.0.0/24",
                         gateway_ip="10.2.0.1")
    their_port = fake.add("ports", "p2", network_id=their_net["id"], device_id="vm",
                          device_owner="compute:nova", fixed_ips=[])
    for role in ("admin", "member"):
        c = client_for(fake, "p1", role)
        token = csrf(c, "/routers")
        before = len(mutations(fake))
        for path, form, said in [
                (f"/routers/{mine['id']}/interfaces", {"subnet_id": their_sub["id"]},
                 "No subnet"),
                (f"/floatingips/{fip['id']}/associate", {"port_id": their_port["id"]},
                 "No port"),
                ("/loadbalancers", {"name": "lb", "subnet_id": their_sub["id"]},
                 "No subnet"),
                ("/instances", {"name": "vm", "image": "img-1", "flavor": "1",
                                "network": their_net["id"]}, "No network"),
                (f"/routers/{mine['id']}/gateway", {"network_id": their_net["id"]},
                 "No external network"),  # not router:external
                ("/routers", {"name": "r", "gateway": their_net["id"]},
                 "No external network"),
                ("/floatingips", {"network_id": their_net["id"]}, "No external network")]:
            r = c.post(path, data={"csrf": token, "back": "/routers", **form})
            assert r.status_code == 200 and said in r.text, path
        assert len(mutations(fake)) == before
    assert fip["port_id"] is None and not fake.store["loadbalancers"]
    assert not fake.store["servers"] and len(fake.store["routers"]) == 1


def test_api_errors_are_plain_words_never_a_5xx(fake):
    c = client_for(fake)
    fake.fail["/v2.0/routers"] = (500, {"NeutronError": {"message": "db locked",
                                                         "type": "X"}})
    r = c.get("/routers")
    assert r.status_code == 200 and "The network API says: db locked" in r.text
    assert "Traceback" not in r.text
    fake.fail["/v2.0/networks"] = (409, {"NeutronError": {"message": "Quota exceeded",
                                                          "type": "OverQuota"}})
    token = csrf(c, "/instances")
    r = c.post("/networks", data={"csrf": token, "name": "x", "back": "/networks"})
    assert r.url.path == "/networks" and "Quota exceeded" in r.text


def test_an_unreachable_api_is_said_plainly(fake):
    app = create_app(settings(network_url="http://127.0.0.1:9"), SECRET, RPC_TOKEN)
    c = TestClient(app, raise_server_exceptions=False)
    c.post("/login", data={"project": "p1", "role": "member"})
    r = c.get("/networks")
    assert r.status_code == 200 and "The network API cannot be reached" in r.text


def test_tenant_journey_on_the_fake(fake):
    c = client_for(fake)
    ext = fake.add("networks", "admin", name="public", **{"router:external": True})
    token = csrf(c)
    c.post("/networks", data={"csrf": token, "name": "net1", "cidr": "10.0.0.0/24"})
    net = next(n for n in fake.store["networks"].values() if n["name"] == "net1")
    sub = next(iter(fake.store["subnets"].values()))
    r = c.post("/routers", data={"csrf": token, "name": "rt", "gateway": ext["id"]})
    rid = r.url.path.rsplit("/", 1)[1]
    assert 'data-live="router:' in r.text and "BUILD" in r.text and "<progress" in r.text
    c.post(f"/routers/{rid}/interfaces", data={"csrf": token, "subnet_id": sub["id"]})
    c.post(f"/routers/{rid}/routes", data={"csrf": token, "destination": "10.9.0.0/24",
                                           "nexthop": "10.0.0.5"})
    assert fake.store["routers"][rid]["routes"] == [{"destination": "10.9.0.0/24",
                                                    "nexthop": "10.0.0.5"}]
    r = c.post("/instances", data={"csrf": token, "name": "vm", "image": "img-1",
                                   "flavor": "1", "network": net["id"]})
    sid = r.url.path.rsplit("/", 1)[1]
    assert "Instance requested" in r.text
    assert c.get("/status.json").json()[f"server:{sid}"]["busy"] is True
    fake.store["servers"][sid]["status"] = "ACTIVE"
    fake.store["routers"][rid]["status"] = "ACTIVE"
    live = c.get("/status.json").json()
    assert live[f"server:{sid}"]["tone"] == "good" and live[f"router:{rid}"]["busy"] is False
    c.post(f"/instances/{sid}/metadata", data={"csrf": token, "key": "role", "value": "web"})
    assert "web" in c.get(f"/instances/{sid}").text
    console = c.get(f"/instances/{sid}/console").text
    assert "&lt;b&gt;root&lt;/b&gt;" in console  # escaped, never markup
    c.post(f"/instances/{sid}/action", data={"csrf": token, "action": "stop"})
    assert fake.store["servers"][sid]["status"] == "SHUTOFF"
    graph = c.get("/topology.json").json()
    kinds = {n["id"]: n["kind"] for n in graph["nodes"]}
    assert kinds[rid] == "router" and kinds[sid] == "server" and kinds[ext["id"]] == "external"
    assert {(e["from"], e["to"]) for e in graph["edges"]} >= {(rid, net["id"]),
                                                             (sid, net["id"]), (rid, ext["id"])}
    c.post(f"/instances/{sid}/delete", data={"csrf": token})
    c.post(f"/routers/{rid}/interfaces", data={"csrf": token, "op": "remove",
                                               "subnet_id": sub["id"]})
    c.post(f"/routers/{rid}/delete", data={"csrf": token})
    c.post(f"/networks/{net['id']}/delete", data={"csrf": token})
    assert not fake.store["servers"] and not fake.store["routers"]
    assert not fake.store["ports"]


def test_topology_shows_only_the_external_networks_the_projects_routers_use(fake):
    used = fake.add("networks", "admin", name="public", **{"router:external": True})
    fake.add("networks", "admin", name="other-public", **{"router:external": True})
    c = client_for(fake)
    assert c.get("/topology.json").json()["nodes"] == []
    fake.add("routers", "p1", name="rt", routes=[],
             external_gateway_info={"network_id": used["id"]})
    nodes = {n["label"]: n for n in c.get("/topology.json").json()["nodes"]}
    assert set(nodes) == {"rt", "public"}
    assert nodes["public"]["kind"] == "external" and nodes["public"]["href"] == ""


def test_floating_ips_and_load_balancers(fake):
    c = client_for(fake)
    ext = fake.add("networks", "admin", name="public", **{"router:external": True})
    sub = fake.add("subnets", "p1", name="s", cidr="10.0.0.0/24", network_id="x")
    token = csrf(c)
    c.post("/floatingips", data={"csrf": token, "network_id": ext["id"]})
    fid = next(iter(fake.store["floatingips"]))
    assert "172.24.4." in c.get("/floatingips").text
    c.post(f"/floatingips/{fid}/delete", data={"csrf": token})
    assert not fake.store["floatingips"]
    c.post("/loadbalancers", data={"csrf": token, "name": "lb1", "subnet_id": sub["id"]})
    assert "PENDING_CREATE" in c.get("/loadbalancers").text
    lid = next(iter(fake.store["loadbalancers"]))
    c.post(f"/loadbalancers/{lid}/delete", data={"csrf": token})
    assert not fake.store["loadbalancers"]


def test_admin_pages_refused_to_a_member(fake):
    c = client_for(fake, role="member")
    assert c.get("/admin/hosts").status_code == 403
    token = csrf(c)
    assert c.post("/admin/hosts/svc-host-a/drain", data={"csrf": token}).status_code == 403
    assert not fake.hosts["host-a"]["drained"]
    assert not [call for call in fake.calls if call[1] == "rpc"]


def test_admin_drains_undrains_and_rebuilds(fake):
    fake.orch["r1"] = {"id": "r1", "kind": "router", "tenant_id": "p9", "status": "up",
                       "state": "Alive", "healthy": True}
    c = client_for(fake, role="admin")
    token = csrf(c, "/admin/hosts")
    r = c.post("/admin/hosts/svc-host-a/drain", data={"csrf": token})
    assert fake.hosts["host-a"]["drained"] and "Host host-a drained" in r.text
    assert ">drained<" in r.text
    c.post("/admin/hosts/svc-host-a/undrain", data={"csrf": token})
    assert not fake.hosts["host-a"]["drained"]
    assert "p9" in c.get("/admin/routers").text
    r = c.post("/admin/routers/r1/rebuild", data={"csrf": token})
    assert fake.commands == [("rebuild", "r1")] and "Rebuild sent" in r.text
    r = c.post("/admin/routers/nope/rebuild", data={"csrf": token, "back": "/admin/routers"})
    assert "The orchestrator says: router nope not found" in r.text
    assert "passes" in c.get("/admin/workers").text.lower()
    assert "No dead letters." in c.get("/admin/dead-letters").text


def test_os_services_calls_ask_for_microversion_2_53(fake):
    """A real Nova's service ids are UUIDs (PUT /os-services/<id>) from 2.53 only."""
    c = client_for(fake, role="admin")
    token = csrf(c, "/admin/hosts")
    c.post("/admin/hosts/svc-host-a/drain", data={"csrf": token})
    assert fake.hosts["host-a"]["drained"]
    c.get("/instances")  # other compute calls keep the base version
    sent = [h for call, h in zip(fake.calls, fake.headers, strict=True)
            if call[2].startswith("/v2.1/os-services")]
    assert len(sent) >= 2 and {call[0] for call in fake.calls
                               if call[2].startswith("/v2.1/os-services")} == {"GET", "PUT"}
    for h in sent:
        assert h["openstack-api-version"] == "compute 2.53"
        assert h["x-openstack-nova-api-version"] == "2.53"
    others = [h for call, h in zip(fake.calls, fake.headers, strict=True)
              if not call[2].startswith("/v2.1/os-services")]
    assert others and not any("openstack-api-version" in h for h in others)


def test_a_missing_rpc_token_is_said_as_such(fake):
    app = create_app(settings(rpc_auth_token_file="/nowhere/rpc_auth_token"), SECRET, b"",
                     transport=fake.transport(), admin_password=ADMIN_PASSWORD)
    c = TestClient(app, raise_server_exceptions=False)
    c.post("/login", data={"project": "p1", "role": "admin",
                           "admin_password": ADMIN_PASSWORD.decode()})
    r = c.get("/admin/routers")
    assert r.status_code == 200
    assert "RPC token file (/nowhere/rpc_auth_token) cannot be read" in r.text
    assert "Only an admin session" not in r.text
    assert not [call for call in fake.calls if call[1] == "rpc"]


def test_back_never_leaves_the_site(fake):
    c = client_for(fake)
    token = csrf(c)
    r = c.post("/routers/x/delete", data={"csrf": token, "back": "//evil.example/"},
               follow_redirects=False)
    assert r.headers["location"] == "/"


def test_pages_carry_a_content_security_policy(fake):
    c = client_for(fake)
    policy = c.get("/instances").headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert c.get("/static/live.js").status_code == 200
    assert c.get("/nowhere").status_code == 404
