"""A TERMINATED_HTTPS load balancer end to end, as root, on a real all-in-one stack,
through openstacksdk: a tenant instance answering plain HTTP with its name, a client
instance; a load balancer whose listener is given a certificate (signed by this test's
own CA for the VIP address) inline as a data URI. From the client, an HTTPS request to
the VIP, verified against that CA, is answered by the member (over HTTP/2 when the
client offers it, ALPN); the PEM file on the appliance is 0600 in a 0700 directory;
the key appears in no API answer and no log of the stack; a cascade delete leaves no
PEM file.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.functional.e2e.e2e_helpers import answers, netns
from tests.functional.e2e.test_e2e_loadbalancer import NEEDED, lb_connection
from tests.support import wait_for
from tests.tls_certs import bundle, data_uri, issue

from astara.burnin.scenario import Options, connection

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges)"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in NEEDED),
                       reason=f"needs {', '.join(NEEDED)}"),
]


def https(client_ns: str, vip: str, ca: Path, *extra: str) -> tuple[str, str] | None:
    """(body, HTTP version) of a verified HTTPS request from the client, or None."""
    r = subprocess.run(["ip", "netns", "exec", client_ns, "curl", "-s", "--max-time", "3",
                        "--cacert", str(ca), *extra, "-w", "\n%{http_version}",
                        f"https://{vip}/"], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    body, _, version = r.stdout.rpartition("\n")
    return body.strip(), version.strip()


def pem_files(state: Path) -> list[Path]:
    return sorted(p for p in state.rglob("certs/*.pem") if p.is_file())


def test_an_https_listener_terminates_tls_with_an_inline_certificate(aio, tmp_path):
    ports, state = aio
    o = Options(network_url=f"http://127.0.0.1:{ports['net']}/",
                compute_url=f"http://127.0.0.1:{ports['comp']}/")
    user = connection(o, "e2e-tls", False)
    lbs = lb_connection(f"http://127.0.0.1:{ports['lb']}/", "e2e-tls").load_balancer
    net = user.network.create_network(name="e2e-tls-net")
    sub = user.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.78.0.0/24")
    router = user.network.create_router(name="e2e-tls-router")
    user.network.add_interface_to_router(router, subnet_id=sub.id)
    vms = [user.compute.create_server(name=f"e2e-tls-{n}", image_id="astara-tenant",
                                      flavor_id="1", networks=[{"uuid": net.id}])
           for n in ("web", "client")]
    for vm in vms:
        wait_for(lambda vm=vm: user.compute.get_server(vm.id).status == "ACTIVE", 120,
                 f"{vm.name} ACTIVE", 0.2)
    web = next(p.fixed_ips[0]["ip_address"] for p in user.network.ports(device_id=vms[0].id))
    client = f"astara-vm-{vms[1].id}"
    wait_for(lambda: answers(client, web), 120, "the member from the client", 0.2)

    lb = lbs.create_load_balancer(name="e2e-tls", vip_subnet_id=sub.id)
    ca = issue("e2e-test-ca", ca=True)
    server = issue("e2e-tls.example.test", ca, ips=(lb.vip_address,))
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.cert_pem())
    listener = lbs.create_listener(loadbalancer_id=lb.id, protocol="TERMINATED_HTTPS",
                                   protocol_port=443,
                                   default_tls_container_ref=data_uri(bundle(server, ca)))
    assert listener.default_tls_container_ref.startswith("astara:pem:sha256:")
    pool = lbs.create_pool(listener_id=listener.id, protocol="HTTP",
                           lb_algorithm="ROUND_ROBIN")
    lbs.create_member(pool, address=web, protocol_port=80)
    wait_for(lambda: lbs.get_load_balancer(lb.id).provisioning_status == "ACTIVE", 120,
             "the load balancer ACTIVE", 0.2)
    assert lbs.get_listener(listener.id).provisioning_status == "ACTIVE"
    got = wait_for(lambda: https(client, lb.vip_address, ca_file, "--http1.1"), 60,
                   "an HTTPS answer through the VIP", 0.2)
    assert got == ("e2e-tls-web", "1.1")  # the member itself answers plain HTTP
    assert https(client, lb.vip_address, ca_file, "--http2") == ("e2e-tls-web", "2")
    # Not trusted without the test's CA: it really is that certificate.
    other = tmp_path / "other-ca.pem"
    other.write_bytes(issue("another-ca", ca=True).cert_pem())
    assert https(client, lb.vip_address, other) is None

    files = pem_files(state)
    assert len(files) == 1 and files[0].stem == listener.default_tls_container_ref[18:]
    assert files[0].stat().st_mode & 0o777 == 0o600
    assert files[0].parent.stat().st_mode & 0o777 == 0o700
    key = b"".join(server.key_pem().splitlines()[1:-1]).decode()
    uri = data_uri(bundle(server, ca))
    assert "PRIVATE KEY" in files[0].read_text()
    # Nowhere else: API answers, the stack's logs.
    shown = str(lbs.get_listener(listener.id).to_dict()) + str(
        [x.to_dict() for x in lbs.listeners()])
    logs = "".join(p.read_text(errors="replace") for p in state.rglob("*.log"))
    for bit in (key[:40], base64.b64encode(server.key_pem())[:40].decode(), uri[-60:]):
        assert bit not in shown and bit not in logs

    lbs.delete_load_balancer(lb.id, cascade=True)
    wait_for(lambda: user.network.find_port(lb.vip_port_id) is None, 90,
             "the VIP port released after its appliance", 0.2)
    assert pem_files(state) == []
    for vm in vms:
        user.compute.delete_server(vm.id)
    user.network.remove_interface_from_router(router, subnet_id=sub.id)
    user.network.delete_router(router)
    wait_for(lambda: not [n for n in netns() if n.startswith(("astara-appliance-",
                                                                 "astara-vm-"))], 120,
             "every appliance and instance namespace gone", 0.2)
