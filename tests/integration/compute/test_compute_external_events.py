"""``POST /v2.1/os-server-external-events`` over HTTP: who may send, Nova's faults and
codes, and the ``vif_plugged`` job a plugged port queues for the server's host agent."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select
from tests.support import wait_for

from astara.compute_service import catalog, jobs
from astara.compute_service.models import Instance, Job

TENANT = catalog.TENANT_IMAGE
PATH = "/v2.1/os-server-external-events"


def client(who, compute, version: str | None = None) -> httpx.Client:
    headers = dict(who.headers)
    if version:
        headers["OpenStack-API-Version"] = f"compute {version}"
    return httpx.Client(base_url=compute.api.url, headers=headers, timeout=30)


def fault(resp: httpx.Response, status: int, name: str) -> str:
    assert resp.status_code == status, resp.text[:300]
    body = resp.json()
    assert list(body) == [name] and body[name]["code"] == status
    return body[name]["message"]


def plugged(server_id: str, port_id: str | None = None, **extra) -> dict:
    event = {"name": "network-vif-plugged", "server_uuid": server_id, **extra}
    if port_id is not None:
        event["tag"] = port_id
    return event


@pytest.fixture
def server(user, compute):
    """An ACTIVE tenant server with one port: (server id, port id)."""
    net = user.sdk.network.create_network(name="evnet")
    user.sdk.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.61.0.0/24")
    made = user.sdk.compute.create_server(name="ev", image_id=TENANT, flavor_id="1",
                                          networks=[{"uuid": net.id}])
    user.wait_status(made.id, "ACTIVE")
    port = next(iter(user.sdk.network.ports(device_id=made.id)))
    yield made.id, port.id
    user.sdk.compute.delete_server(made.id)


def stored_instance(compute, host: str, deleted: bool = False) -> str:
    """A server row of its own (no host: the create found none; or deleted)."""
    iid = str(uuid.uuid4())
    stamp = jobs.now()
    with compute.db.write() as s:
        s.add(Instance(id=iid, project_id="events-test", name="x", host=host, flavor_id="1",
                       image_id=TENANT, created_at=stamp, updated_at=stamp, ports=[],
                       metadata_={}, vm_state="deleted" if deleted else "error",
                       deleted=deleted))
    return iid


def vif_jobs(compute, server_id: str) -> list[Job]:
    with compute.db.read() as s:
        rows = list(s.scalars(select(Job).where(Job.instance_id == server_id,
                                                Job.op == jobs.VIF_PLUGGED)))
        s.expunge_all()
        return rows


def test_a_member_is_forbidden_and_nothing_is_queued(user, compute, server):
    server_id, port_id = server
    with client(user, compute) as c:
        message = fault(c.post(PATH, json={"events": [plugged(server_id, port_id)]}),
                        403, "forbidden")
    assert message == ("Policy doesn't allow os_compute_api:os-server-external-events:"
                       "create to be performed.")
    assert vif_jobs(compute, server_id) == []


def test_a_plugged_port_queues_a_job_for_the_servers_host_agent(user, admin_user, compute,
                                                                 server):
    server_id, port_id = server
    with client(admin_user, compute) as c:
        resp = c.post(PATH, json={"events": [plugged(server_id, port_id)]})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"events": [{"name": "network-vif-plugged", "server_uuid": server_id,
                                       "tag": port_id, "status": "completed", "code": 200}]}
    assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    queued = vif_jobs(compute, server_id)
    assert [(j.host, j.payload["port_ids"]) for j in queued] == [("astara-test-host",
                                                                  [port_id])]
    wait_for(lambda: (server_id, (port_id,)) in compute.backend.links_up,
             what="the agent's link_up")
    wait_for(lambda: vif_jobs(compute, server_id)[0].status == jobs.DONE, what="job done")
    # not an instance action (Nova records none for network events)
    actions = user.sdk.compute.get(f"/servers/{server_id}/os-instance-actions").json()
    assert [a["action"] for a in actions["instanceActions"]] == ["create"]
    assert user.wait_status(server_id, "ACTIVE").task_state is None


def test_a_service_role_may_send_and_other_events_queue_nothing(compute, network_api, server):
    server_id, port_id = server
    headers = {"X-Project-Id": "service", "X-User-Id": "neutron", "X-Roles": "service"}
    body = {"events": [{"name": "network-changed", "server_uuid": server_id},
                       {"name": "network-vif-unplugged", "server_uuid": server_id,
                        "tag": port_id},
                       plugged(server_id, port_id, status="failed"),
                       plugged(server_id, str(uuid.uuid4()))]}  # not this server's port
    with httpx.Client(base_url=compute.api.url, headers=headers) as c:
        resp = c.post(PATH, json=body)
    assert resp.status_code == 200, resp.text
    assert [e["code"] for e in resp.json()["events"]] == [200, 200, 200, 200]
    assert vif_jobs(compute, server_id) == []


def test_mixed_codes_are_207(admin_user, compute, server):
    server_id, port_id = server
    unknown, hostless = str(uuid.uuid4()), stored_instance(compute, "")
    with client(admin_user, compute) as c:
        resp = c.post(PATH, json={"events": [plugged(unknown, port_id),
                                             plugged(server_id, port_id),
                                             plugged(hostless)]})
    assert resp.status_code == 207, resp.text
    got = [(e["server_uuid"], e["code"], e["status"]) for e in resp.json()["events"]]
    assert got == [(unknown, 404, "failed"), (server_id, 200, "completed"),
                   (hostless, 422, "failed")]
    assert len(vif_jobs(compute, server_id)) == 1
    assert vif_jobs(compute, hostless) == []


def test_no_server_found_is_404(admin_user, compute):
    gone = stored_instance(compute, "astara-test-host", deleted=True)
    for ids in ([str(uuid.uuid4())], [gone], [stored_instance(compute, "")]):
        with client(admin_user, compute) as c:
            message = fault(c.post(PATH, json={"events": [plugged(i) for i in ids]}),
                            404, "itemNotFound")
        assert message == "No instances found for any event"
    assert vif_jobs(compute, gone) == []


@pytest.mark.parametrize("content", [
    b"", b"{", b"null", b"[]", b'{"events": {}}', b'{"events": []}',
    b'{"events": [{"name": "network-vif-plugged"}]}',
    b'{"events": [{"name": "nope", "server_uuid": "0b8f7a8e-0000-4000-8000-000000000001"}]}',
    b'{"events": [{"name": "network-vif-plugged", "server_uuid": "x"}]}',
    b'{"events": [{"name": "network-vif-plugged", "server_uuid": 1}]}',
    b'{"events": [{"name": "network-vif-plugged", '
    b'"server_uuid": "0b8f7a8e-0000-4000-8000-000000000001", "tag": 5}]}',
    b'{"events": [{"name": "network-vif-plugged", '
    b'"server_uuid": "0b8f7a8e-0000-4000-8000-000000000001", "status": "ok"}]}',
    b'{"events": [1], "x": 2}', b'{"events": ["\\ud800"]}', b"[" * 100 + b"]" * 100,
])
@pytest.mark.parametrize("who", ["admin_user", "user"])
def test_malformed_bodies_are_400_in_novas_style(request, compute, content, who):
    with client(request.getfixturevalue(who), compute) as c:
        resp = c.post(PATH, content=content, headers={"Content-Type": "application/json"})
    fault(resp, 400, "badRequest")


def test_event_names_follow_the_microversion(admin_user, compute, server):
    server_id, _ = server
    body = {"events": [{"name": "volume-extended", "server_uuid": server_id, "tag": "v"}]}
    with client(admin_user, compute) as c:
        assert "is not one of" in fault(c.post(PATH, json=body), 400, "badRequest")
    with client(admin_user, compute, "2.51") as c:
        resp = c.post(PATH, json=body)
        assert resp.status_code == 200 and resp.json()["events"][0]["code"] == 200
        assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.51"
        no_tag = {"events": [{"name": "volume-extended", "server_uuid": server_id},
                             plugged(server_id, "not-a-port")]}
        resp = c.post(PATH, json=no_tag)
        assert resp.status_code == 207
        assert [e["code"] for e in resp.json()["events"]] == [400, 200]


def test_only_post_is_routed(admin_user, compute):
    with client(admin_user, compute) as c:
        fault(c.get(PATH), 405, "badMethod")
