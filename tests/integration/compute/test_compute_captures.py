"""Our answers next to a real Nova 34's (tests/data/nova): shapes, faults, headers."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from astara.compute_service import catalog

DATA = Path(__file__).parents[2] / "data" / "nova"
TENANT = catalog.TENANT_IMAGE


def capture(name: str) -> dict:
    return json.loads(next(DATA.glob(f"{name}_*.json")).read_text())


def client(user, compute, version: str | None = None) -> httpx.Client:
    headers = dict(user.headers)
    if version:
        headers["OpenStack-API-Version"] = f"compute {version}"
    return httpx.Client(base_url=f"{compute.api.url}", headers=headers)


def active_server(user, compute, version="2.37", **extra) -> str:
    with client(user, compute, version) as c:
        body = {"server": {"name": "cap", "imageRef": TENANT, "flavorRef": "1",
                           "networks": "none", **extra}}
        sid = c.post("/v2.1/servers", json=body).json()["server"]["id"]
    user.wait_status(sid, "ACTIVE")
    return sid


def test_versions_documents(compute):
    for name, path in (("001", "/"), ("002", "/v2.1/")):
        ours = httpx.get(compute.api.url + path).json()
        theirs = capture(name)["response"]["body"]
        if name == "001":
            theirs = {"versions": [v for v in theirs["versions"] if v["id"] == "v2.1"]}
            assert [set(v) for v in ours["versions"]] == [set(v) for v in theirs["versions"]]
            assert ours["versions"][0]["version"] == theirs["versions"][0]["version"]
        else:
            assert set(ours["version"]) == set(theirs["version"])


@pytest.mark.parametrize("name,version,view", [
    ("039", None, "server"), ("042", "2.104", "server"), ("116", None, "server")])
def test_server_show_has_novas_keys(user, admin_user, compute, name, version, view):
    cap = capture(name)
    net_ports = name == "116"
    who = admin_user if "admin" in cap["request"]["headers"].get("X-Roles", "") else user
    if net_ports:
        net = who.sdk.network.create_network(name="acc-net")
        who.sdk.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.20.0.0/24")
        sid = active_server(who, compute, networks=[{"uuid": net.id}])
    else:
        sid = active_server(who, compute, metadata={"role": "acceptance"})
    with client(who, compute, version) as c:
        resp = c.get(f"/v2.1/servers/{sid}")
    theirs = cap["response"]["body"]["server"]
    ours = resp.json()["server"]
    assert set(ours) == set(theirs)
    assert set(ours["flavor"]) == set(theirs["flavor"])
    assert {k: ours[k] for k in ("status", "OS-EXT-STS:vm_state", "OS-EXT-STS:power_state",
                                 "OS-EXT-STS:task_state")} == \
           {k: theirs[k] for k in ("status", "OS-EXT-STS:vm_state", "OS-EXT-STS:power_state",
                                   "OS-EXT-STS:task_state")}
    if net_ports:
        [(ours_net, ours_ips)] = ours["addresses"].items()
        [(their_net, their_ips)] = theirs["addresses"].items()
        assert ours_net == their_net and set(ours_ips[0]) == set(their_ips[0])
    want_headers = {k for k in cap["response"]["headers"] if k.lower() != "content-length"}
    assert {k.lower() for k in want_headers} <= set(resp.headers)
    if version:
        assert resp.headers["OpenStack-API-Version"] == f"compute {version}"


def test_create_response_shape(user, compute):
    cap = capture("033")
    with client(user, compute, "2.37") as c:
        resp = c.post("/v2.1/servers", json=cap["request"]["body"] | {
            "server": {**cap["request"]["body"]["server"], "imageRef": TENANT}})
    assert resp.status_code == cap["response"]["status"]
    assert set(resp.json()["server"]) == set(cap["response"]["body"]["server"])
    assert resp.headers["Location"].endswith(resp.json()["server"]["id"])


SID = "{sid}"


@pytest.mark.parametrize("name,method,path,body,version", [
    ("022", "POST", "/v2.1/servers", {"server": {"name": "acc-bad", "imageRef": TENANT,
                                                  "flavorRef": "no-such-flavor",
                                                  "networks": "none"}}, "2.37"),
    ("023", "POST", "/v2.1/servers", {"server": {"name": "acc-bad", "imageRef":
                                                  "a8312395-1541-4b7b-a090-3ea17f11c0cf",
                                                  "flavorRef": "1", "networks": "none"}},
     "2.37"),
    ("027", "POST", "/v2.1/servers", {"server": {"name": "acc-bad", "imageRef": TENANT,
                                                  "flavorRef": "1", "networks": "none"}}, None),
    ("028", "POST", "/v2.1/servers", '{"server": ', "2.37"),
    ("029", "GET", "/v2.1/servers", None, "2.999"),
    ("030", "GET", "/v2.1/servers/86ee1fd8-a936-4e0f-a348-5d13bdb21b7b", None, None),
    ("055", "GET", "/v2.1/servers?all_tenants=1", None, None),
    ("058", "PUT", f"/v2.1/servers/{SID}", {"server": {"status": "ACTIVE"}}, None),
    ("065", "GET", f"/v2.1/servers/{SID}/metadata/nope", None, None),
    ("066", "PUT", f"/v2.1/servers/{SID}/metadata/x", {"meta": {"y": "1"}}, None),
    ("068", "POST", f"/v2.1/servers/{SID}/action", {"os-start": None}, None),
    ("084", "POST", f"/v2.1/servers/{SID}/action", {"reboot": {"type": "MEDIUM"}}, None),
    ("085", "POST", f"/v2.1/servers/{SID}/action", {"os-fly": None}, None),
    ("128", "POST", f"/v2.1/servers/{SID}/os-interface",
     {"interfaceAttachment": {"net_id": "924b25a6-0370-46ff-a6f3-c0920cc5314e",
                              "port_id": "1e8e956f-3576-45ab-80a3-0050a87dd33b"}}, None),
])
def test_faults_match_nova(user, compute, name, method, path, body, version):
    cap = capture(name)
    sid = active_server(user, compute) if SID in path else None
    their_sid = cap["request"]["path"].split("/")[3] if sid else None
    with client(user, compute, version) as c:
        content = body if isinstance(body, str) else (json.dumps(body) if body else None)
        resp = c.request(method, path.replace(SID, sid or ""), content=content,
                         headers={"Content-Type": "application/json"})
    theirs = cap["response"]
    assert resp.status_code == theirs["status"]
    expected = json.loads(json.dumps(theirs["body"]).replace(their_sid or "\0", sid or ""))
    assert resp.json() == expected
    assert resp.headers["X-OpenStack-Nova-API-Version"] == \
        theirs["headers"]["X-OpenStack-Nova-API-Version"]
    if sid:
        with client(user, compute) as c:
            c.delete(f"/v2.1/servers/{sid}")
