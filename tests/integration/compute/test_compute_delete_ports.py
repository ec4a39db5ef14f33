"""Which ports a server's delete gives back beyond those its record lists: the ones
os-interface attached or detached, and only while the network still shows them on the
server (never a port since moved to another server, another project's, a router's)."""

import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from astara.compute_service import jobs
from astara.compute_service.api import errors, ports
from astara.compute_service.api.bodies import NetworkRequest
from astara.compute_service.api.context import Context
from astara.compute_service.api.network import FakeNetwork, NetworkError
from astara.compute_service.api.service import ComputeService
from astara.compute_service.models import Instance, Job

A = Context("proj-a", "user-a", ("member", "reader"))
ADMIN = Context("astara-service", "orchestrator", ("admin",))


@pytest.fixture
def env(db):
    net = FakeNetwork()
    net.a_net = net.add_network("proj-a", "a-net", "10.1.0")
    net.b_net = net.add_network("proj-b", "b-net", "10.2.0")
    settings = SimpleNamespace(availability_zone="nova", management_network="",
                               agent_down_time=60)
    svc = ComputeService(db, net, settings)
    return svc, net, db


def server(db, project="proj-a", host="host-1"):
    sid = str(uuid.uuid4())
    stamp = jobs.now()
    with db.write() as s:
        row = Instance(id=sid, project_id=project, user_id="u", name="s", host=host,
                       flavor_id="1", image_id="x", ports=[], vm_state="active",
                       task_state=None, power_state=1, seq=0, console="", deleted=False,
                       created_at=stamp, updated_at=stamp, metadata_={})
        s.add(row)
        s.flush()
    return sid


def attach_job(db, sid, port, status=jobs.FAILED):
    with db.write() as s:
        row = s.get(Instance, sid)
        jobs.queue(s, row, "attach", {}, status, port=port)


def stored(p, **kw):
    return {"port_id": p["id"], "net_id": p["network_id"], "owned": False, **kw}


def test_a_given_port_now_on_another_server_is_left_alone(env):
    svc, net, db = env
    s1, s2 = server(db), server(db, host="host-2")
    p = net.add_port("proj-a", net.a_net["id"])
    attach_job(db, s1, stored(p))            # attach to s1 failed on the host
    p.update(device_id=s2, device_owner="compute:nova", **{"binding:host_id": "host-2"})
    svc.delete(A, s1)
    assert (p["device_id"], p["binding:host_id"]) == (s2, "host-2")


def test_a_made_port_now_on_another_server_is_not_deleted(env):
    svc, net, db = env
    s1, s2 = server(db), server(db, host="host-2")
    p = net.add_port("proj-a", net.a_net["id"], device_id=s1, device_owner="compute:nova")
    attach_job(db, s1, stored(p, owned=True))
    p.update(device_id=s2, **{"binding:host_id": "host-2"})
    svc.delete(ADMIN, s1)
    assert p["id"] in net.ports


def test_another_projects_port_now_on_its_own_server_is_left_alone(env):
    svc, net, db = env
    s1 = server(db)
    t = server(db, project="proj-b", host="host-2")
    p = net.add_port("proj-b", net.b_net["id"])
    attach_job(db, s1, stored(p))            # an admin attached B's port to A's server
    p.update(device_id=t, device_owner="compute:nova", **{"binding:host_id": "host-2"})
    svc.delete(A, s1)                        # A's member deletes its server
    assert (p["device_id"], p["binding:host_id"]) == (t, "host-2")


def test_a_router_port_now_on_another_appliance_stays_bound(env):
    svc, net, db = env
    s1 = server(db, project="astara-service")
    p = net.add_port("proj-a", net.a_net["id"], device_id="router-1",
                     device_owner="network:router_interface")
    attach_job(db, s1, stored(p, service=True))
    p["binding:host_id"] = "host-2"          # plugged into the replacement appliance
    svc.delete(ADMIN, s1)
    assert p["binding:host_id"] == "host-2"


def test_an_attach_racing_the_delete_leaves_no_port(env, monkeypatch):
    svc, net, db = env
    s1 = server(db)
    real = ports.allocate_one

    def racing(*a, **kw):
        made = real(*a, **kw)
        svc.delete(A, s1)  # the delete lands while the attach talks to the network API
        return made
    monkeypatch.setattr(ports, "allocate_one", racing)
    with pytest.raises(errors.Conflict):
        svc.attach(A, s1, NetworkRequest(net_id=net.a_net["id"]))
    with db.read() as s:
        assert [j.op for j in s.scalars(select(Job).where(Job.instance_id == s1))] \
            == ["delete"]
    assert [p for p in net.ports.values() if p["device_id"] == s1] == []


def test_a_detach_whose_release_failed_is_given_back_at_delete(env, monkeypatch):
    svc, net, db = env
    s1 = server(db)
    p = net.add_port("proj-a", net.a_net["id"], device_id=s1, device_owner="compute:nova",
                     **{"binding:host_id": "host-1"})
    with db.write() as s:
        s.get(Instance, s1).ports = [stored(p, owned=True)]
    real = net.delete_port

    def down(caller, port_id):
        raise NetworkError(503, "network API unavailable")
    monkeypatch.setattr(net, "delete_port", down)
    svc.detach(A, s1, p["id"])               # the release fails: logged only
    monkeypatch.setattr(net, "delete_port", real)
    with db.write() as s:                    # the detach's end lands
        s.get(Instance, s1).ports = []
    svc.delete(A, s1)
    assert p["id"] not in net.ports


def test_candidates_are_the_ports_of_jobs_the_record_does_not_list():
    def port(pid):
        return {"port_id": pid, "owned": True}
    jobs_ = [("attach", port("a")), ("detach", port("a")), ("attach", port("b")),
             ("attach", port("c")), ("attach", None), ("attach", {"x": 1})]
    assert ports.unjoined(jobs_, known={"c"}) == [port("a"), port("b")]


def test_an_attach_whose_port_is_still_on_the_server_is_given_back(env):
    svc, net, db = env
    s1 = server(db)
    p = net.add_port("proj-a", net.a_net["id"], device_id=s1, device_owner="compute:nova")
    attach_job(db, s1, stored(p, owned=True), status=jobs.PENDING)
    svc.delete(A, s1)
    assert p["id"] not in net.ports
