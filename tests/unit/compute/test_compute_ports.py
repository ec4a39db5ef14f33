"""Ports on a member's behalf: who the network API is told asks, and what is refused."""

from __future__ import annotations

import httpx
import pytest

from astara.compute_service.api import errors, ports
from astara.compute_service.api.bodies import NetworkRequest
from astara.compute_service.api.context import Context
from astara.compute_service.api.network import FakeNetwork, HttpNetwork

A = Context("proj-a", "user-a", ("member", "reader"))
B = Context("proj-b", "user-b", ("member", "reader"))
ADMIN = Context("astara-service", "orchestrator", ("admin",))


@pytest.fixture
def net():
    fake = FakeNetwork()
    fake.a_net = fake.add_network("proj-a", "a-net", "10.1.0")
    fake.b_net = fake.add_network("proj-b", "b-net", "10.2.0")
    fake.ext = fake.add_network("admin", "public", "192.0.2", external=True)
    return fake


def alloc(net, caller, want, attach=False, server="srv-1"):
    return ports.allocate_one(net, caller, caller.project_id, server, "host-1", "nova", want,
                              attach=attach)


def release(net, caller, given, server="srv-1", project=None):
    ports.release(net, caller, given, server_id=server,
                  project_id=project or caller.project_id)


def test_a_new_port_is_made_by_the_caller_and_only_bound_by_the_service(net):
    port = alloc(net, B, NetworkRequest(net_id=net.b_net["id"]))
    made = net.ports[port["port_id"]]
    assert made["project_id"] == "proj-b" and made["device_id"] == "srv-1"
    assert made["device_owner"] == "compute:nova" and made["binding:host_id"] == "host-1"
    assert [(c[0], c[2]) for c in net.calls] == [("create_port", "proj-b"),
                                                 ("bind_port", "service")]


def test_a_given_port_is_claimed_by_the_caller_then_bound(net):
    given = net.add_port("proj-b", net.b_net["id"])
    port = alloc(net, B, NetworkRequest(port_id=given["id"]))
    assert port["owned"] is False and not port["service"]
    assert net.calls == [("update_port", given["id"], "proj-b"),
                         ("bind_port", given["id"], "service")]
    release(net, B, [port])
    assert (given["device_id"], given["device_owner"], given["binding:host_id"]) == ("", "", "")


@pytest.mark.parametrize("attach, fault", [(False, errors.Forbidden), (True, errors.Forbidden)])
def test_a_member_may_not_plug_into_an_external_network(net, attach, fault):
    with pytest.raises(fault) as got:
        alloc(net, B, NetworkRequest(net_id=net.ext["id"]), attach=attach)
    assert got.value.message == ("It is not allowed to create an interface on external "
                                 f"network {net.ext['id']}")
    assert net.calls == [] and net.ports == {}


def test_a_members_port_on_the_external_network_is_refused_too(net):
    given = net.add_port("proj-b", net.ext["id"])  # made for B by an admin
    with pytest.raises(errors.Forbidden):
        alloc(net, B, NetworkRequest(port_id=given["id"]))
    assert net.calls == [] and given["device_id"] == ""


def test_external_but_shared_and_admin_are_allowed(net):
    shared_ext = net.add_network("admin", "pub", "198.51.100", external=True, shared=True)
    assert alloc(net, B, NetworkRequest(net_id=shared_ext["id"]))["owned"]
    assert alloc(net, ADMIN, NetworkRequest(net_id=net.ext["id"]))["owned"]


@pytest.mark.parametrize("attach, fault", [(False, errors.BadRequest), (True, errors.NotFound)])
def test_another_projects_network_is_not_found(net, attach, fault):
    with pytest.raises(fault) as got:
        alloc(net, B, NetworkRequest(net_id=net.a_net["id"]), attach=attach)
    assert got.value.message == f"Network {net.a_net['id']} could not be found."
    assert net.calls == []


@pytest.mark.parametrize("attach, fault", [(False, errors.BadRequest), (True, errors.NotFound)])
def test_another_projects_port_is_not_found_even_on_the_callers_network(net, attach, fault):
    # Neutron shows B the port A made on B's (shared) network; it is still not B's.
    net.b_net["shared"] = True
    theirs = net.add_port("proj-a", net.b_net["id"])
    assert net.get_port(B, theirs["id"]) is not None
    with pytest.raises(fault) as got:
        alloc(net, B, NetworkRequest(port_id=theirs["id"]), attach=attach)
    assert got.value.message == f"Port id {theirs['id']} could not be found."
    assert net.calls == [] and theirs["device_id"] == ""


@pytest.mark.parametrize("device_owner", ["compute:nova", "network:router_interface", ""])
def test_a_port_with_a_device_is_in_use(net, device_owner):
    used = net.add_port("proj-b", net.b_net["id"], device_id="other-server",
                        device_owner=device_owner)
    with pytest.raises(errors.Conflict) as got:
        alloc(net, B, NetworkRequest(port_id=used["id"]))
    assert got.value.message == f"Port {used['id']} is still in use."
    assert used["device_id"] == "other-server" and net.calls == []


def test_the_orchestrator_plugs_a_router_port_without_taking_it_over(net):
    router_port = net.add_port("proj-a", net.a_net["id"], device_id="router-1",
                               device_owner="network:router_interface")
    port = alloc(net, ADMIN, NetworkRequest(port_id=router_port["id"]), attach=True)
    assert port["service"] and router_port["device_id"] == "router-1"
    assert router_port["binding:host_id"] == "host-1"
    assert net.calls == [("bind_port", router_port["id"], "service")]
    release(net, ADMIN, [port], project="proj-a")
    assert router_port["binding:host_id"] == "" and router_port["device_id"] == "router-1"


def test_the_orchestrator_plugs_a_load_balancer_vip_port_without_taking_it_over(net):
    vip = net.add_port("proj-a", net.a_net["id"], device_id="lb-1", device_owner="Octavia")
    port = alloc(net, ADMIN, NetworkRequest(port_id=vip["id"]), attach=True)
    assert port["service"] and vip["device_id"] == "lb-1" and vip["device_owner"] == "Octavia"
    assert net.calls == [("bind_port", vip["id"], "service")]


def test_only_an_admin_plugs_a_load_balancer_vip_port(net):
    vip = net.add_port("proj-b", net.b_net["id"], device_id="lb-1", device_owner="Octavia")
    with pytest.raises(errors.Conflict) as got:
        alloc(net, B, NetworkRequest(port_id=vip["id"]), attach=True)
    assert got.value.message == f"Port {vip['id']} is still in use."
    assert vip["device_id"] == "lb-1" and net.calls == []


def test_a_failed_later_port_gives_back_the_earlier_ones_as_the_caller(net):
    used = net.add_port("proj-b", net.b_net["id"], device_id="x")
    with pytest.raises(errors.Conflict):
        ports.allocate(net, B, "proj-b", "srv-1", "host-1", "nova",
                       (NetworkRequest(net_id=net.b_net["id"]), NetworkRequest(port_id=used["id"])))
    assert list(net.ports) == [used["id"]]
    assert net.calls[-1][0] == "delete_port" and net.calls[-1][2] == "proj-b"


def test_a_port_neutron_lets_no_member_delete_is_deleted_by_the_service(net):
    # Neutron 2025.1 on: a member's DELETE of a compute:* port is refused (403) without
    # the service role; the port the service made for the server goes all the same.
    net.compute_ports_service_only = True
    port = alloc(net, B, NetworkRequest(net_id=net.b_net["id"]))
    net.calls.clear()
    release(net, B, [port])
    assert net.ports == {}
    assert net.calls == [("delete_port", port["port_id"], "proj-b"),
                         ("get_port_as_service", port["port_id"], "service"),
                         ("delete_port_as_service", port["port_id"], "service")]


@pytest.mark.parametrize("owner, device", [
    ("proj-b", "srv-2"),   # moved to another server of the project since
    ("proj-a", "srv-1"),   # another project's port named by a (forged) host event
])
def test_the_service_deletes_only_a_port_still_the_servers_in_its_project(
        net, caplog, owner, device):
    net.compute_ports_service_only = True
    other = net.add_port(owner, net.b_net["id"], device_id=device,
                         device_owner="compute:nova")
    caplog.set_level("WARNING", logger="astara.compute_service.api.ports")
    release(net, B, [{"port_id": other["id"], "owned": True}])
    assert net.ports == {other["id"]: other} and other["device_id"] == device
    assert net.calls == [("delete_port", other["id"], "proj-b"),
                         ("get_port_as_service", other["id"], "service")]
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "left in place" in caplog.records[0].getMessage()


def _neutron(status: int) -> httpx.Response:
    return httpx.Response(status, json={"NeutronError": {
        "type": "PolicyNotAuthorized", "message": "disallowed by policy", "detail": ""}})


def test_only_a_refusal_falls_back_to_the_service():
    # The member's 403 goes to the service, which reads the port (still srv-1's, in
    # proj-b) and deletes it; its 404 (gone meanwhile) is done.
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        who = request.headers["x-project-id"]
        seen.append((request.method, who))
        if who == "proj-b":
            return _neutron(403)
        if request.method == "GET":
            return httpx.Response(200, json={"port": {
                "id": "p-1", "device_id": "srv-1", "project_id": "proj-b"}})
        return _neutron(404)

    client = HttpNetwork("http://net", transport=httpx.MockTransport(answer))
    release(client, B, [{"port_id": "p-1", "owned": True}])
    client.close()
    assert seen == [("DELETE", "proj-b"), ("GET", "astara-service"),
                    ("DELETE", "astara-service")]


@pytest.mark.parametrize("status", [500, 401])
def test_any_other_failure_of_the_members_delete_is_logged_not_retried_as_the_service(
        caplog, status):
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.headers["x-project-id"]))
        return _neutron(status)

    caplog.set_level("WARNING", logger="astara.compute_service.api.ports")
    client = HttpNetwork("http://net", transport=httpx.MockTransport(answer))
    release(client, B, [{"port_id": "p-1", "owned": True}])
    client.close()
    assert seen == [("DELETE", "proj-b")]
    assert [r.getMessage() for r in caplog.records] == [
        "could not release port p-1: disallowed by policy"]


def test_a_service_port_gone_before_its_release_is_no_failure(net, caplog):
    # A router's deletion on Neutron deletes its ports before its appliance goes.
    caplog.set_level("WARNING", logger="astara.compute_service.api.ports")
    release(net, ADMIN, [{"port_id": "gone", "service": True}])
    assert net.calls == [] and not caplog.records


@pytest.mark.parametrize("caller, port, fault", [
    (B, None, errors.BadRequest),
    (B, {"project_id": "proj-a", "device_id": ""}, errors.BadRequest),
    (B, {"project_id": "proj-b", "device_id": "s"}, errors.Conflict),
    (B, {"project_id": "proj-b", "device_id": "r", "device_owner": "network:dhcp"},
     errors.Conflict),
    (B, {"project_id": "proj-b", "device_id": ""}, None),
    (ADMIN, {"project_id": "proj-a", "device_id": ""}, None),
    (ADMIN, {"project_id": "proj-a", "device_id": "r", "device_owner": "network:x"}, None),
    (ADMIN, {"project_id": "proj-a", "device_id": "lb-r", "device_owner": "Octavia"}, None),
    (B, {"project_id": "proj-b", "device_id": "lb-r", "device_owner": "Octavia"},
     errors.Conflict),
    (B, {"project_id": "proj-b", "device_id": "", "device_owner": "Octavia"},
     errors.Conflict),
    (ADMIN, {"project_id": "proj-a", "device_id": "s", "device_owner": "compute:nova"},
     errors.Conflict),
])
def test_port_refusal_table(caller, port, fault):
    got = ports.port_refusal(caller, port, "p-1", attach=False)
    assert (type(got) if got else None) is fault


def test_http_network_sends_the_callers_identity_and_binds_as_the_service():
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.headers.get("x-project-id"),
                     request.headers.get("x-user-id"), request.headers.get("x-roles")))
        return httpx.Response(200, json={"port": {"id": "p-1"}})

    client = HttpNetwork("http://net", transport=httpx.MockTransport(answer))
    client.update_port(B, "p-1", {"device_id": "s"})
    client.bind_port("p-1", "host-1")
    client.close()
    assert seen == [("PUT", "/v2.0/ports/p-1", "proj-b", "user-b", "member,reader"),
                    ("PUT", "/v2.0/ports/p-1", "astara-service", "astara-compute", "admin")]


@pytest.mark.parametrize("bad", ["..", ".", "", "a/..", "a?fields=id", "x" * 256])
def test_http_network_never_puts_a_foreign_path_in_its_urls(bad):
    seen = []
    client = HttpNetwork("http://net", transport=httpx.MockTransport(
        lambda r: seen.append(r.url) or httpx.Response(500)))
    assert client.get_network(B, bad) is None and client.get_port(B, bad) is None
    assert seen == []


def test_ports_made_side_by_side_come_back_in_the_order_asked(net):
    mine = [net.add_port("proj-b", net.b_net["id"]) for _ in range(3)]
    wanted = (NetworkRequest(port_id=mine[2]["id"]), NetworkRequest(net_id=net.b_net["id"]),
              NetworkRequest(port_id=mine[0]["id"]), NetworkRequest(port_id=mine[1]["id"]))
    got = ports.allocate(net, B, "proj-b", "srv-1", "host-1", "nova", wanted)
    assert [p["port_id"] for p in got][:1] + [p["port_id"] for p in got][2:] == \
        [mine[2]["id"], mine[0]["id"], mine[1]["id"]]
    assert got[1]["port_id"] not in {p["id"] for p in mine} and got[1]["owned"]


def test_one_port_asked_twice_is_refused_the_second_time(net):
    mine = net.add_port("proj-b", net.b_net["id"])
    with pytest.raises(errors.Conflict):
        ports.allocate(net, B, "proj-b", "srv-1", "host-1", "nova",
                       (NetworkRequest(port_id=mine["id"]), NetworkRequest(port_id=mine["id"])))
    assert mine["device_id"] == ""  # the first claim was given back


def test_ports_side_by_side_use_a_bounded_pool(net, monkeypatch):
    sizes = []
    real = ports.ThreadPoolExecutor

    def counting(workers, **kw):
        sizes.append(workers)
        return real(workers, **kw)

    monkeypatch.setattr(ports, "ThreadPoolExecutor", counting)
    wanted = tuple(NetworkRequest(net_id=net.b_net["id"]) for _ in range(20))
    got = ports.allocate(net, B, "proj-b", "srv-1", "host-1", "nova", wanted)
    assert len(got) == 20 and sizes and max(sizes) <= ports.MAX_PARALLEL


def test_ports_already_made_are_released_when_a_thread_cannot_start(net, monkeypatch):
    real = ports.ThreadPoolExecutor

    class Starved(real):
        submitted = 0

        def submit(self, fn, *args, **kwargs):
            Starved.submitted += 1
            if Starved.submitted == 3:
                raise RuntimeError("can't start new thread")
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(ports, "ThreadPoolExecutor", Starved)
    wanted = tuple(NetworkRequest(net_id=net.b_net["id"]) for _ in range(4))
    with pytest.raises(RuntimeError):
        ports.allocate(net, B, "proj-b", "srv-1", "host-1", "nova", wanted)
    assert [p for p in net.ports.values() if p["device_id"] == "srv-1"] == []


def _no_single_reads(net, monkeypatch):
    def refused(*_a):
        raise AssertionError("read alone")

    monkeypatch.setattr(net, "get_port", refused)
    monkeypatch.setattr(net, "get_network", refused)


def test_ports_asked_together_are_read_in_one_list_call_each_as_the_caller(net, monkeypatch):
    router = [net.add_port("proj-a", n["id"], device_id="r-1", device_owner=owner)
              for n, owner in ((net.ext, "network:router_gateway"),
                               (net.a_net, "network:router_interface"))]
    wanted = (NetworkRequest(net_id=net.b_net["id"]),
              *(NetworkRequest(port_id=p["id"]) for p in router))
    _no_single_reads(net, monkeypatch)
    got = ports.allocate(net, ADMIN, "astara-service", "srv-1", "host-1", "nova", wanted)
    assert [p["port_id"] for p in got[1:]] == [p["id"] for p in router]
    assert [p["network_name"] for p in got] == ["b-net", "public", "a-net"]
    assert net.reads == [
        ("get_ports", tuple(p["id"] for p in router), "astara-service"),
        ("get_networks", (net.b_net["id"], net.ext["id"], net.a_net["id"]), "astara-service")]


def test_ports_read_together_keep_each_refusal(net, monkeypatch):
    theirs = net.add_port("proj-a", net.b_net["id"])  # on B's network: B sees it, not B's
    mine = net.add_port("proj-b", net.b_net["id"])
    with pytest.raises(errors.BadRequest, match=theirs["id"]):
        ports.allocate(net, B, "proj-b", "srv-1", "host-1", "nova",
                       (NetworkRequest(port_id=mine["id"]), NetworkRequest(port_id=theirs["id"])))
    assert net.reads[0] == ("get_ports", (mine["id"], theirs["id"]), "proj-b")
    assert theirs["device_id"] == "" and mine["device_id"] == ""  # B's claim given back
    with pytest.raises(errors.Forbidden):
        ports.allocate(net, B, "proj-b", "srv-1", "host-1", "nova",
                       (NetworkRequest(port_id=mine["id"]), NetworkRequest(net_id=net.ext["id"])))


def test_what_the_list_left_out_is_read_alone(net, monkeypatch):
    """A list cut short (a page limit) or refused leaves each read to allocate_one."""
    mine = [net.add_port("proj-b", net.b_net["id"]) for _ in range(2)]
    monkeypatch.setattr(net, "get_ports", lambda caller, ids: {})
    got = ports.allocate(net, B, "proj-b", "srv-1", "host-1", "nova",
                         tuple(NetworkRequest(port_id=p["id"]) for p in mine))
    assert [p["port_id"] for p in got] == [p["id"] for p in mine]

    def failing(caller, ids):
        raise ports.NetworkError(400, "no id filter here")

    monkeypatch.setattr(net, "get_networks", failing)
    got = ports.allocate(net, B, "proj-b", "srv-2", "host-1", "nova",
                         (NetworkRequest(net_id=net.b_net["id"]),) * 2)
    assert [p["network_name"] for p in got] == ["b-net", "b-net"]


def test_an_unreachable_network_api_fails_the_create_at_once(net, monkeypatch):
    """No read alone after the list found the network service unreachable: each would
    wait its own timeout again before the create fails."""
    mine = [net.add_port("proj-b", net.b_net["id"]) for _ in range(2)]

    def unreachable(caller, ids):
        raise errors.ComputeFault("Network service unreachable: timed out")

    monkeypatch.setattr(net, "get_ports", unreachable)
    _no_single_reads(net, monkeypatch)
    with pytest.raises(errors.ComputeFault, match="unreachable"):
        ports.allocate(net, B, "proj-b", "srv-1", "host-1", "nova",
                       tuple(NetworkRequest(port_id=p["id"]) for p in mine))
    assert all(p["device_id"] == "" for p in mine)


def test_http_network_reads_several_in_one_list_call_as_the_caller():
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path,
                     request.url.params.get_list("id"), request.headers.get("x-project-id")))
        return httpx.Response(200, json={"ports": [{"id": "p-1"}, {"id": "p-9"}]})

    client = HttpNetwork("http://net", transport=httpx.MockTransport(answer))
    got = client.get_ports(B, ["p-1", "a/..", "p-2", "p-1"])
    assert client.get_ports(B, ["..", ""]) == {}
    client.close()
    assert got == {"p-1": {"id": "p-1"}}  # what was not asked for is not taken
    assert seen == [("GET", "/v2.0/ports", ["p-1", "p-2"], "proj-b")]


def test_a_network_api_binding_in_bulk_gets_one_binding_call_for_every_port(net):
    net.bulk = True
    mine = net.add_port("proj-b", net.b_net["id"])
    wanted = (NetworkRequest(port_id=mine["id"]), NetworkRequest(net_id=net.b_net["id"]))
    got = ports.allocate(net, B, "proj-b", "srv-1", "host-1", "nova", wanted)
    ids = [p["port_id"] for p in got]
    assert ids[0] == mine["id"] and got[1]["owned"] and not got[0]["owned"]
    assert got[0]["service"] is False and "service" not in got[1]
    assert [c for c in net.calls if c[0].startswith("bind")] == \
        [("bind_ports", ",".join(ids), "service")]
    assert all(net.ports[i]["binding:host_id"] == "host-1" for i in ids)
    # the caller claimed and made them, as without the bulk call
    assert ("update_port", mine["id"], "proj-b") in net.calls
    assert ("create_port", ids[1], "proj-b") in net.calls


def test_a_failed_bulk_binding_gives_back_every_port_and_says_so(net, monkeypatch):
    net.bulk = True
    mine = net.add_port("proj-b", net.b_net["id"])

    def refuse(port_ids, host):
        raise ports.NetworkError(409, "host refused")

    monkeypatch.setattr(net, "bind_ports", refuse)
    with pytest.raises(errors.ComputeFault, match="Unable to bind ports .*host refused"):
        ports.allocate(net, B, "proj-b", "srv-1", "host-1", "nova",
                       (NetworkRequest(port_id=mine["id"]),
                        NetworkRequest(net_id=net.b_net["id"])))
    assert list(net.ports) == [mine["id"]]  # the one made for the server is gone
    assert net.ports[mine["id"]]["device_id"] == ""  # the caller's is given back


def test_http_network_binds_in_bulk_only_where_the_extension_is_listed():
    seen = []

    def ours(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.headers.get("x-roles")))
        if request.url.path.endswith("/extensions/astara-port-bindings"):
            return httpx.Response(200, json={"extension": {"alias": "astara-port-bindings"}})
        return httpx.Response(200, json={"ports": [{"id": "p-1"}, {"id": "p-2"}]})

    client = HttpNetwork("http://net", transport=httpx.MockTransport(ours))
    assert client.binds_in_bulk() and client.binds_in_bulk()  # asked once
    assert client.bind_ports(["p-1", "p-2"], "host-1") == {"p-1": {"id": "p-1"},
                                                            "p-2": {"id": "p-2"}}
    client.close()
    assert seen == [("GET", "/v2.0/extensions/astara-port-bindings", "admin"),
                    ("PUT", "/v2.0/astara_port_bindings", "admin")]
    neutron = HttpNetwork("http://net", transport=httpx.MockTransport(
        lambda r: httpx.Response(404, json={"NeutronError": {"message": "no such"}})))
    assert neutron.binds_in_bulk() is False
    neutron.close()
    asked = []
    refusing = HttpNetwork("http://net", transport=httpx.MockTransport(
        lambda r: asked.append(1) or httpx.Response(401, json={})))
    assert refusing.binds_in_bulk() is False and refusing.binds_in_bulk() is False
    refusing.close()
    assert len(asked) == 2  # a refusal is not an answer: asked again
