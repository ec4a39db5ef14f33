"""A port's link came up (Nova's ``network-vif-plugged``) on real namespaces, as root.

A tenant instance booted before its network had a DHCP server has a ``dhclient`` that
waits for its next retransmit; after the event it has a new one (asks at once). With a
lease (a test dnsmasq on the network serves it) the client is left alone. Through the
whole stack: the event posted to the compute API reaches the host's agent as a job.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import httpx
import psutil
import pytest
from compute_stack import ComputeStack, new_project, sh
from test_compute_netns import Lab
from tests.support import wait_for

from astara.compute_service import catalog
from astara.compute_service.agent.runner import is_zombie, read_pid

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not all(shutil.which(b) for b in ("dnsmasq", "dhclient", "ip")),
                       reason="needs dnsmasq, dhclient and iproute2"),
]


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path)
    yield lab
    lab.cleanup()
    assert not [n for n in os.listdir("/sys/class/net")
                if n.startswith(lab.backend.bridge_prefix)], "a bridge was left"


def dhclient_pid(state: Path, instance_id: str, ifname: str = "eth0") -> int | None:
    pidfile = state / "instances" / instance_id / f"dhclient-{ifname}.pid"
    pid = read_pid(pidfile)
    return pid if pid is not None and psutil.pid_exists(pid) else None


def is_dhclient(pid: int) -> bool:
    try:
        return psutil.Process(pid).name() == "dhclient"
    except psutil.Error:
        return False


def ipv4(ns: str) -> str:
    return sh("ip", "-n", ns, "-4", "addr", "show", "dev", "eth0").stdout


def test_unbound_dhclient_restarts_and_a_bound_one_is_left_alone(lab):
    net_id, mac = str(uuid.uuid4()), "fa:16:3e:77:00:31"
    spec = lab.spec(net_id, f"vif-{lab.tag}", mac)
    port_id = spec.ports[0]["port_id"]
    lab.backend.create(spec)
    ns = lab.backend.netns(spec.id)
    old = wait_for(lambda: (p := dhclient_pid(lab.tmp, spec.id)) and is_dhclient(p) and p,
                   what="the first dhclient")

    assert lab.backend.link_up(spec, (port_id,)) == "DHCP client restarted: eth0"
    new = wait_for(lambda: (p := dhclient_pid(lab.tmp, spec.id)) and is_dhclient(p) and p,
                   what="a new dhclient")
    assert new != old
    # SIGKILLed, its exit not waited for: gone (reaped by the runner's thread) soon after
    wait_for(lambda: not psutil.pid_exists(old), what="the old dhclient gone and reaped")

    lab.peer(net_id, mac, "10.77.0.10")  # the network's DHCP server comes up
    wait_for(lambda: "10.77.0.10/24" in ipv4(ns), what="the lease")
    bound = dhclient_pid(lab.tmp, spec.id)
    assert lab.backend.link_up(spec, (port_id,)) == "bound, left alone: eth0"
    assert dhclient_pid(lab.tmp, spec.id) == bound and is_dhclient(bound)
    assert "10.77.0.10/24" in ipv4(ns)  # no address flap

    lab.backend.delete(spec)  # an instance already gone: nothing to do, no error
    assert "nothing to do" in lab.backend.link_up(spec, (port_id,))


@pytest.fixture
def stack():
    work = Path(tempfile.mkdtemp(prefix="astara-cvif-"))
    stack = ComputeStack(work).start()
    yield stack
    stack.close()
    assert stack.leftovers() == []
    shutil.rmtree(work, ignore_errors=True)


def wait_active(c: httpx.Client, sid: str) -> None:
    wait_for(lambda: c.get(f"/v2.1/servers/{sid}").json()["server"]["status"] == "ACTIVE",
             timeout=20, what=f"{sid} ACTIVE", every=0.05)


def test_the_event_through_the_api_restarts_the_servers_dhclient(stack):
    project = new_project()
    with httpx.Client(base_url=f"{stack.network.url}/v2.0",
                      headers=stack.headers(project)) as net:
        net_id = net.post("/networks", json={"network": {"name": "vif"}}).json()["network"]["id"]
        net.post("/subnets", json={"subnet": {"network_id": net_id, "ip_version": 4,
                                              "cidr": "10.78.0.0/24"}}).raise_for_status()
    with httpx.Client(base_url=stack.compute.url, headers=stack.headers(project)) as c:
        sid = c.post("/v2.1/servers", json={"server": {
            "name": "vif", "imageRef": catalog.TENANT_IMAGE, "flavorRef": "1",
            "networks": [{"uuid": net_id}]}}).json()["server"]["id"]
        wait_active(c, sid)
        port_id = c.get(f"/v2.1/servers/{sid}/os-interface").json()[
            "interfaceAttachments"][0]["port_id"]
    state = stack.settings.state_dir
    old = wait_for(lambda: (p := dhclient_pid(state, sid)) and is_dhclient(p) and p,
                   what="the first dhclient")
    event = {"events": [{"name": "network-vif-plugged", "server_uuid": sid, "tag": port_id}]}
    with httpx.Client(base_url=stack.compute.url,
                      headers=stack.headers(new_project(), admin=True)) as admin:
        resp = admin.post("/v2.1/os-server-external-events", json=event)
    assert resp.status_code == 200, resp.text
    assert resp.json()["events"][0]["code"] == 200
    new = wait_for(lambda: (p := dhclient_pid(state, sid)) and p != old and is_dhclient(p)
                   and p, what="the dhclient restarted by the event")
    wait_for(lambda: not is_dhclient(old) or is_zombie(old), what="the old dhclient gone")
    with httpx.Client(base_url=stack.compute.url, headers=stack.headers(project)) as c:
        assert c.get(f"/v2.1/servers/{sid}").json()["server"]["status"] == "ACTIVE"
        c.delete(f"/v2.1/servers/{sid}")
        wait_for(lambda: c.get(f"/v2.1/servers/{sid}").status_code == 404, timeout=20,
                 what="the server deleted")
    assert not is_dhclient(new)  # gone with its server
