"""What a client recorded against a real Nova 34 trips on, replayed against ours (issue 10).

Each test takes the expected answer from a capture in tests/data/nova: reboot rules,
descriptions, instance actions, deleted-server lists, shapes at the newest
microversions, the headers every answer carries, and create idempotency.
"""

from __future__ import annotations

import json

import httpx
import pytest
from tests.integration.compute.test_compute_captures import active_server, capture, client
from tests.support import wait_for

from astara.compute_service import catalog
from astara.compute_service.api import placement

TENANT = catalog.TENANT_IMAGE
VERSION_HEADERS = ("OpenStack-API-Version", "X-OpenStack-Nova-API-Version", "Vary")
ID_HEADERS = ("x-openstack-request-id", "x-compute-request-id")


def swap_id(body, theirs: str, ours: str):
    return json.loads(json.dumps(body).replace(theirs, ours))


def action(c: httpx.Client, sid: str, body: dict) -> httpx.Response:
    return c.post(f"/v2.1/servers/{sid}/action", json=body)


# reboot of a SHUTOFF server ---------------------------------------------------------

def test_soft_reboot_of_a_stopped_server_is_409_and_start_still_works(user, compute):
    cap = capture("073")
    sid = active_server(user, compute)
    with client(user, compute) as c:
        assert action(c, sid, {"os-stop": None}).status_code == 202
        user.wait_status(sid, "SHUTOFF")
        resp = action(c, sid, cap["request"]["body"])
        assert resp.status_code == 409
        their_sid = cap["request"]["path"].split("/")[3]
        assert resp.json() == swap_id(cap["response"]["body"], their_sid, sid)
        for name in VERSION_HEADERS:
            assert resp.headers[name] == cap["response"]["headers"][name]
        assert user.sdk.compute.get_server(sid).status == "SHUTOFF"
        started = action(c, sid, {"os-start": None})
        assert started.status_code == capture("075")["response"]["status"]
    user.wait_status(sid, "ACTIVE")


def test_hard_reboot_revives_a_stopped_server(user, compute):
    """Nova lets a HARD reboot start a stopped server (ALLOW_HARD_REBOOT)."""
    sid = active_server(user, compute)
    user.sdk.compute.stop_server(sid)
    user.wait_status(sid, "SHUTOFF")
    user.sdk.compute.reboot_server(sid, "HARD")
    user.wait_status(sid, "ACTIVE")


# headers on every answer ------------------------------------------------------------

def _nova_headers(resp: httpx.Response, version: str) -> None:
    assert resp.headers["OpenStack-API-Version"] == f"compute {version}"
    assert resp.headers["X-OpenStack-Nova-API-Version"] == version
    assert resp.headers["Vary"] == "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
    rid = resp.headers["x-openstack-request-id"]
    assert rid.startswith("req-") and resp.headers["x-compute-request-id"] == rid


@pytest.mark.parametrize("version,shown", [(None, "2.1"), ("latest", "2.104"),
                                           ("2.50", "2.50")])
def test_version_document_carries_nova_headers(compute, version, shown):
    headers = {"OpenStack-API-Version": f"compute {version}"} if version else {}
    resp = httpx.get(f"{compute.api.url}/v2.1/", headers=headers)
    assert resp.status_code == 200
    want = capture("002")["response"]["headers"]
    assert {k.lower() for k in want if k != "Content-Length"} <= set(resp.headers)
    _nova_headers(resp, shown)


def test_401_405_406_carry_nova_headers(user, compute):
    cap = capture("005")
    resp = httpx.get(f"{compute.api.url}{cap['request']['path']}")
    assert resp.status_code == 401
    assert {k.lower() for k in cap["response"]["headers"]
            if k not in ("Content-Length", "Content-Type")} <= set(resp.headers)
    _nova_headers(resp, "2.1")
    with client(user, compute, "2.60") as c:
        resp = c.patch("/v2.1/servers")
        assert resp.status_code == 405 and "badMethod" in resp.json()
        _nova_headers(resp, "2.60")
        resp = c.get("/v2.1/no-such-thing")
        assert resp.status_code == 404 and "itemNotFound" in resp.json()
        _nova_headers(resp, "2.60")
    cap = capture("029")
    with client(user, compute, "2.999") as c:
        resp = c.get("/v2.1/servers")
    assert resp.status_code == 406 and resp.json() == cap["response"]["body"]
    _nova_headers(resp, "2.999")


def test_request_ids_differ_per_answer(user, compute):
    """Nova makes its own request id per answer, whatever id the client sent."""
    with client(user, compute) as c:
        sent = {"X-OpenStack-Request-ID": "req-11111111-2222-4333-8444-555555555555"}
        ids = {c.get("/v2.1/flavors", headers=sent).headers["x-openstack-request-id"]
               for _ in range(2)}
    assert len(ids) == 2 and sent["X-OpenStack-Request-ID"] not in ids


# create idempotency -----------------------------------------------------------------

def _create(c: httpx.Client, **headers) -> httpx.Response:
    body = {"server": {"name": "idem", "imageRef": TENANT, "flavorRef": "1",
                       "networks": "none"}}
    return c.post("/v2.1/servers", json=body, headers=headers)


def test_a_reused_request_id_is_not_an_idempotency_key(user, compute):
    """Clients (the SDK's global request id) send one X-OpenStack-Request-ID for many calls."""
    shared = {"X-OpenStack-Request-ID": "req-11111111-2222-4333-8444-555555555555"}
    with client(user, compute, "2.37") as c:
        first, second = _create(c, **shared), _create(c, **shared)
    assert first.status_code == second.status_code == 202
    assert first.json()["server"]["id"] != second.json()["server"]["id"]
    assert len(list(user.sdk.compute.servers())) == 2


def test_an_idempotency_key_never_returns_a_deleted_server(user, compute):
    with client(user, compute, "2.37") as c:
        first = _create(c, **{"Idempotency-Key": "k1"}).json()["server"]["id"]
        assert _create(c, **{"Idempotency-Key": "k1"}).json()["server"]["id"] == first
        assert c.delete(f"/v2.1/servers/{first}").status_code == 204
        again = _create(c, **{"Idempotency-Key": "k1"})
        assert again.status_code == 202 and again.json()["server"]["id"] != first
        assert _create(c, **{"Idempotency-Key": "k1"}).json()["server"]["id"] == \
            again.json()["server"]["id"]


def test_orchestrator_client_retried_boot_returns_the_same_instance(admin_user, compute):
    from astara.orchestrator.clients.compute import HttpComputeAPI
    from astara.orchestrator.drivers.router import NAMING

    api = HttpComputeAPI(compute.api.url, admin_user.headers, "astara-appliance",
                         "astara.appliance")
    try:
        router = "0b0e5c1a-4cb1-4f7e-9d1e-2f7c61b0a001"
        who = NAMING.identity(router)
        first = api.boot(who, [], "req-boot-1")
        assert api.boot(who, [], "req-boot-1") == first  # the retry after a crash
        assert api.boot(who, [], "req-boot-2") != first  # the next boot of the router
    finally:
        api.close()


# shapes at the newest microversions -------------------------------------------------

def _same_shape(ours: dict, theirs: dict) -> None:
    assert set(ours) == set(theirs)
    for nested in ("flavor", "image"):
        if nested in theirs:
            assert set(ours[nested]) == set(theirs[nested])


def test_member_show_and_detail_at_latest_have_novas_keys(user, compute):
    sid = active_server(user, compute, metadata={"role": "acceptance"})
    with client(user, compute, "2.104") as c:
        shown = c.get(f"/v2.1/servers/{sid}").json()["server"]
        listed = c.get("/v2.1/servers/detail").json()["servers"]
    _same_shape(shown, capture("041")["response"]["body"]["server"])
    assert shown["OS-EXT-SRV-ATTR:hostname"] == "cap"  # members see it from 2.90
    assert shown["image"]["properties"] == {"astara_profile": "tenant"}
    [theirs] = capture("046")["response"]["body"]["servers"]
    [ours] = listed
    _same_shape(ours, theirs)  # no server_groups in lists
    with client(user, compute, "2.89") as c:
        older = c.get(f"/v2.1/servers/{sid}").json()["server"]
    assert "OS-EXT-SRV-ATTR:hostname" not in older and "properties" not in older["image"]


def test_progress_is_shown_only_while_active_or_building(user, compute):
    sid = active_server(user, compute)
    user.sdk.compute.stop_server(sid)
    user.wait_status(sid, "SHUTOFF")
    with client(user, compute, "2.104") as c:
        assert "progress" not in c.get(f"/v2.1/servers/{sid}").json()["server"]


@pytest.mark.parametrize("name,path,version", [
    ("013", "/v2.1/flavors/1", None), ("014", "/v2.1/flavors/1", "2.104"),
    ("012", "/v2.1/flavors/detail", "2.104")])
def test_flavor_shapes_follow_the_microversion(user, compute, name, path, version):
    theirs = capture(name)["response"]["body"]
    with client(user, compute, version) as c:
        ours = c.get(path).json()
    if "flavor" in theirs:
        ours_items, their_items = [ours["flavor"]], [theirs["flavor"]]
    else:
        ours_items, their_items = ours["flavors"], theirs["flavors"]
    for item in ours_items:
        assert set(item) == set(their_items[0])
        assert item["swap"] == their_items[0]["swap"]  # "" at 2.1, 0 past 2.75


def test_interface_tag_from_2_70(user, compute):
    net = user.sdk.network.create_network(name="tag-net")
    user.sdk.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.31.0.0/24")
    sid = active_server(user, compute)
    attach = capture("123")
    with client(user, compute, "2.104") as c:
        resp = c.post(f"/v2.1/servers/{sid}/os-interface",
                      json={"interfaceAttachment": {"net_id": net.id, "tag": "acc"}})
        assert resp.status_code == 200, resp.text
        made = resp.json()["interfaceAttachment"]
        assert set(made) == set(attach["response"]["body"]["interfaceAttachment"])
        assert made["tag"] == "acc"
        port_id = made["port_id"]
        path = f"/v2.1/servers/{sid}/os-interface/{port_id}"
        wait_for(lambda: c.get(path).status_code == 200, 10, "the attached port", 0.02)
        shown = c.get(path).json()
        assert set(shown["interfaceAttachment"]) == \
            set(capture("121")["response"]["body"]["interfaceAttachment"])
        assert shown["interfaceAttachment"]["tag"] == "acc"
        bad = c.post(f"/v2.1/servers/{sid}/os-interface",
                     json={"interfaceAttachment": {"net_id": net.id, "tag": "a/b"}})
        assert bad.status_code == 400 and "badRequest" in bad.json()
    with client(user, compute, "2.69") as c:
        [listed] = c.get(f"/v2.1/servers/{sid}/os-interface").json()["interfaceAttachments"]
    assert "tag" not in listed
    with client(user, compute, "2.48") as c:
        old = c.post(f"/v2.1/servers/{sid}/os-interface",
                     json={"interfaceAttachment": {"net_id": net.id, "tag": "acc"}})
    assert old.status_code == 400 and "'tag' was unexpected" in old.text


# description (2.19) -----------------------------------------------------------------

def test_update_server_description_through_the_sdk(user, compute):
    sid = active_server(user, compute)
    user.sdk.compute.update_server(sid, description="desc")
    assert user.sdk.compute.get_server(sid).description == "desc"
    cap = capture("057")
    with client(user, compute, "2.104") as c:
        resp = c.put(f"/v2.1/servers/{sid}", json=cap["request"]["body"])
        assert resp.status_code == 200
        ours = resp.json()["server"]
        _same_shape(ours, cap["response"]["body"]["server"])
        assert (ours["name"], ours["description"]) == ("acc-vm-1-renamed2", "desc")
        cleared = c.put(f"/v2.1/servers/{sid}", json={"server": {"description": None}})
        assert cleared.json()["server"]["description"] is None
        long = c.put(f"/v2.1/servers/{sid}", json={"server": {"description": "d" * 256}})
        assert long.status_code == 400 and "is too long" in long.text
    with client(user, compute, "2.18") as c:
        old = c.put(f"/v2.1/servers/{sid}", json={"server": {"description": "x"}})
    assert old.status_code == 400 and "'description' was unexpected" in old.text


def test_create_with_description_at_2_19(user, compute):
    sid = active_server(user, compute, description="made with one")
    with client(user, compute, "2.19") as c:
        assert c.get(f"/v2.1/servers/{sid}").json()["server"]["description"] == \
            "made with one"


# lists: paging, deleted servers -----------------------------------------------------

def test_sdk_pages_through_all_servers_with_a_limit(user, compute):
    ids = {active_server(user, compute) for _ in range(3)}
    with client(user, compute) as c:
        page = c.get("/v2.1/servers", params={"limit": "1"}).json()
    [link] = page["servers_links"]
    assert set(link) == set(capture("052")["response"]["body"]["servers_links"][0])
    assert link["rel"] == "next" and f"marker={page['servers'][0]['id']}" in link["href"]
    assert {s.id for s in user.sdk.compute.servers(limit=1)} == ids
    assert {s.id for s in user.sdk.compute.servers(details=False, limit=2)} == ids


def _deleted_server(user, compute) -> str:
    sid = active_server(user, compute, metadata={"role": "gone"})
    user.sdk.compute.delete_server(sid)
    with client(user, compute) as c:
        wait_for(lambda: c.get(f"/v2.1/servers/{sid}").status_code == 404, 10,
                 "the delete", 0.02)
    return sid


def test_admin_lists_deleted_servers_and_their_metadata_is_gone(user, admin_user, compute):
    sid = _deleted_server(user, compute)
    live = active_server(user, compute)
    cap = capture("097")
    with client(admin_user, compute, "2.104") as c:
        resp = c.get("/v2.1/servers/detail", params={"deleted": "true", "all_tenants": "1",
                                                      "project_id": user.project})
        assert resp.status_code == 200
        [ours] = resp.json()["servers"]
        [theirs] = cap["response"]["body"]["servers"]
        _same_shape(ours, theirs)
        assert ours["id"] == sid and live != sid
        assert (ours["status"], ours["metadata"], ours["addresses"]) == \
            ("DELETED", {}, {})
        assert ours["host_status"] == theirs["host_status"] == ""
        gone = c.get("/v2.1/servers", params={"status": "DELETED", "all_tenants": "1",
                                              "project_id": user.project}).json()
        assert [s["id"] for s in gone["servers"]] == [sid]
        kept = c.get("/v2.1/servers", params={"deleted": "false", "all_tenants": "1",
                                              "project_id": user.project}).json()
        assert [s["id"] for s in kept["servers"]] == [live]


def test_members_cannot_list_deleted_servers(user, compute):
    sid = _deleted_server(user, compute)
    with client(user, compute, "2.104") as c:
        assert c.get("/v2.1/servers", params={"deleted": "true"}).json()["servers"] == []
        refused = c.get("/v2.1/servers", params={"status": "DELETED"})
        assert refused.status_code == 403 and "forbidden" in refused.json()
        since = c.get("/v2.1/servers/detail",
                      params={"changes-since": "2000-01-01T00:00:00Z"}).json()["servers"]
    [theirs] = capture("098")["response"]["body"]["servers"]
    [ours] = since
    _same_shape(ours, theirs)
    assert ours["id"] == sid and ours["metadata"] == {}


# os-instance-actions ----------------------------------------------------------------

def test_instance_actions_list_and_show(user, other_user, admin_user, compute):
    cap = capture("090")
    sid = active_server(user, compute)
    asked = {}
    with client(user, compute) as c:
        for name, body, status in (("stop", {"os-stop": None}, "SHUTOFF"),
                                   ("start", {"os-start": None}, "ACTIVE"),
                                   ("reboot", {"reboot": {"type": "SOFT"}}, "ACTIVE")):
            resp = action(c, sid, body)
            assert resp.status_code == 202
            asked[name] = resp.headers["x-openstack-request-id"]
            user.wait_status(sid, status)
    with client(user, compute, "2.104") as c:
        listed = c.get(f"/v2.1/servers/{sid}/os-instance-actions")
        assert listed.status_code == 200
        items = listed.json()["instanceActions"]
        assert [i["action"] for i in items] == ["reboot", "start", "stop", "create"]
        their_item = cap["response"]["body"]["instanceActions"][0]
        for item in items:
            assert set(item) == set(their_item)
            assert (item["instance_uuid"], item["project_id"], item["user_id"],
                    item["message"]) == (sid, user.project, user.headers["X-User-Id"], None)
        assert {i["action"]: i["request_id"] for i in items[:3]} == asked
        shown = c.get(f"/v2.1/servers/{sid}/os-instance-actions/{asked['stop']}").json()
        [ev] = shown["instanceAction"]["events"]
        assert ev["event"] == "compute_stop_instance" and ev["result"] == "Success"
        assert ev["finish_time"] and "traceback" not in ev and "host" not in ev
        assert len(ev["hostId"]) == 56
        missing = c.get(f"/v2.1/servers/{sid}/os-instance-actions/req-nope")
        assert missing.status_code == 404
        assert missing.json() == {"itemNotFound": {"code": 404,
                                                   "message": "Action req-nope not found"}}
    with client(user, compute) as c:  # 2.1: no updated_at, no events for members
        old = c.get(f"/v2.1/servers/{sid}/os-instance-actions").json()["instanceActions"]
        assert "updated_at" not in old[0]
        shown = c.get(f"/v2.1/servers/{sid}/os-instance-actions/{asked['start']}").json()
        assert "events" not in shown["instanceAction"]
    with client(admin_user, compute, "2.104") as c:
        shown = c.get(f"/v2.1/servers/{sid}/os-instance-actions/{asked['start']}").json()
        [ev] = shown["instanceAction"]["events"]
        assert ev["host"] == compute.settings.host and ev["traceback"] is None
    with client(other_user, compute, "2.104") as c:
        assert c.get(f"/v2.1/servers/{sid}/os-instance-actions").status_code == 404


def test_a_deleted_servers_actions_from_2_21(user, compute):
    sid = _deleted_server(user, compute)
    with client(user, compute, "2.21") as c:
        items = c.get(f"/v2.1/servers/{sid}/os-instance-actions").json()["instanceActions"]
        assert [i["action"] for i in items] == ["delete", "create"]
    with client(user, compute, "2.20") as c:
        assert c.get(f"/v2.1/servers/{sid}/os-instance-actions").status_code == 404


def test_a_create_without_a_host_records_a_failed_action(user, compute):
    with compute.db.write() as s:
        assert placement.set_drained(s, compute.settings.host, True)
    try:
        with client(user, compute, "2.104") as c:
            body = {"server": {"name": "nohost", "imageRef": TENANT, "flavorRef": "1",
                               "networks": "none"}}
            made = c.post("/v2.1/servers", json=body)
    finally:
        with compute.db.write() as s:
            placement.set_drained(s, compute.settings.host, False)
    sid = made.json()["server"]["id"]
    with client(user, compute, "2.104") as c:
        assert c.get(f"/v2.1/servers/{sid}").json()["server"]["status"] == "ERROR"
        [item] = c.get(f"/v2.1/servers/{sid}/os-instance-actions").json()["instanceActions"]
        assert (item["action"], item["message"]) == ("create", "Error")
        assert item["request_id"] == made.headers["x-openstack-request-id"]
        shown = c.get(f"/v2.1/servers/{sid}/os-instance-actions/{item['request_id']}")
        [ev] = shown.json()["instanceAction"]["events"]
        assert ev["result"] == "Error" and ev["details"].startswith("No valid host")
        assert c.delete(f"/v2.1/servers/{sid}").status_code == 204


def test_attach_on_an_unknown_network_is_404_where_nova_fails_with_500(user, compute):
    """A deliberate deviation (docs/compute.md): the caller's mistake is not a 500."""
    cap = capture("127")
    assert cap["response"]["status"] == 500
    sid = active_server(user, compute)
    with client(user, compute) as c:
        resp = c.post(f"/v2.1/servers/{sid}/os-interface", json=cap["request"]["body"])
    net = cap["request"]["body"]["interfaceAttachment"]["net_id"]
    assert resp.status_code == 404
    assert resp.json() == {"itemNotFound": {"code": 404,
                                            "message": f"Network {net} could not be found."}}


def test_a_port_an_admin_plugged_into_anothers_server_is_given_back_on_delete(
        user, other_user, admin_user, compute):
    """Found by the fuzz suite: B's delete could not unbind A's port (B cannot see it)."""
    net = user.sdk.network.create_network(name="lent")
    user.sdk.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.77.0.0/24")
    port = user.sdk.network.create_port(network_id=net.id)
    sid = active_server(other_user, compute)
    with client(admin_user, compute) as c:
        resp = c.post(f"/v2.1/servers/{sid}/os-interface",
                      json={"interfaceAttachment": {"port_id": port.id}})
        assert resp.status_code == 200
    with client(other_user, compute) as c:
        wait_for(lambda: port.id in c.get(f"/v2.1/servers/{sid}/os-interface").text, 10,
                 "the attach", 0.02)
        assert c.delete(f"/v2.1/servers/{sid}").status_code == 204
    kept = user.sdk.network.get_port(port.id)
    assert (kept.device_id, kept.device_owner) == ("", "")


def test_a_network_tag_on_create_is_shown_from_2_70(user, compute):
    net = user.sdk.network.create_network(name="tagged")
    user.sdk.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.32.0.0/24")
    sid = active_server(user, compute, "2.37", networks=[{"uuid": net.id, "tag": "data"}])
    with client(user, compute, "2.70") as c:
        [att] = c.get(f"/v2.1/servers/{sid}/os-interface").json()["interfaceAttachments"]
    assert att["tag"] == "data"
