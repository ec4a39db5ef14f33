"""The dashboard in a real browser (Debian's Chromium driven by Playwright), against a
real all-in-one stack, as root:

- a tenant creates a network and subnet, a router with an interface and a gateway, and
  an instance; sees the instance and the router go ACTIVE (the page updates itself);
  sees them in the topology picture; creates a load balancer with a listener, a pool
  and a member on its page; deletes everything;
- an admin drains and undrains the host, rebuilds the router (a new appliance), and
  sees the dead letters page.

Screenshots go to ``$ASTARA_TEST_ARTEFACTS/dashboard`` (else the test's tmp dir; the
path is printed); with ``ASTARA_DASHBOARD_SCREENSHOT=1`` the topology shot is also
written to docs/img/dashboard.png (what README shows).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path

import httpx
import pytest
from tests.support import wait_for

from astara.burnin.scenario import Options, connection

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NEEDED = ("ip", "nft", "dnsmasq")
REPO = Path(__file__).resolve().parents[3]

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges)"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in NEEDED),
                       reason=f"needs {', '.join(NEEDED)}"),
]


def _open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _label(page, key: str) -> str:
    return page.locator(f'[data-live="{key}"] .label').inner_text()


def test_dashboard_journeys_in_a_browser(aio, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    ports, state = aio
    wait_for(lambda: _open(ports["dash"]), 60, "the dashboard's port", every=0.2)
    base = f"http://127.0.0.1:{ports['dash']}"
    artefacts = Path(os.environ.get("ASTARA_TEST_ARTEFACTS") or tmp_path) / "dashboard"
    artefacts.mkdir(parents=True, exist_ok=True)
    print(f"dashboard screenshots in {artefacts}")
    o = Options(network_url=f"http://127.0.0.1:{ports['net']}/",
                compute_url=f"http://127.0.0.1:{ports['comp']}/")
    admin_sdk = connection(o, "dash-admin", True)
    project = f"dash-{os.getpid()}"
    user_sdk = connection(o, project, False)
    ext = admin_sdk.network.create_network(name="dash-public", is_router_external=True)
    admin_sdk.network.create_subnet(network_id=ext.id, cidr="198.51.100.0/24", ip_version=4,
                                    is_dhcp_enabled=False, gateway_ip="198.51.100.1")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                _journeys(browser, expect, base, project, ext.id, artefacts,
                          (state / "dashboard_admin_password").read_text().strip())
            finally:
                browser.close()
    finally:
        _clean(user_sdk, admin_sdk, project, ext.id, f"http://127.0.0.1:{ports['lb']}")


def _journeys(browser, expect, base, project, ext_id, artefacts, admin_password):
    tenant = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    tenant.goto(f"{base}/login")
    tenant.fill("input[name=project]", project)
    tenant.click("form button:has-text('Log in')")
    expect(tenant).to_have_url(f"{base}/instances")

    # A network with a subnet.
    tenant.goto(f"{base}/networks")
    form = tenant.locator("#create-network")
    form.locator("input[name=name]").fill("web")
    form.locator("input[name=cidr]").fill("10.77.0.0/24")
    form.locator("button").click()
    expect(tenant.locator(".flash")).to_contain_text("Network web created")
    expect(tenant.locator("td", has_text="10.77.0.0/24")).to_be_visible()

    # A router with a gateway and an interface; it goes ACTIVE while we watch.
    tenant.goto(f"{base}/routers")
    form = tenant.locator("#create-router")
    form.locator("input[name=name]").fill("edge")
    form.locator("select[name=gateway]").select_option(ext_id)
    form.locator("button").click()
    expect(tenant).to_have_url(re.compile(r"/routers/[0-9a-f-]{36}$"))
    router_id = tenant.url.rsplit("/", 1)[1]
    tenant.locator("#add-interface button").click()
    expect(tenant.locator(".flash")).to_contain_text("Interface added")
    expect(tenant.locator("td", has_text="10.77.0.1")).to_be_visible()
    expect(tenant.locator(f'[data-live="router:{router_id}"] .label')).to_have_text(
        "ACTIVE", timeout=240_000)
    tenant.screenshot(path=str(artefacts / "router.png"), full_page=True)

    # An instance on the network; its page shows it going ACTIVE.
    tenant.goto(f"{base}/instances")
    form = tenant.locator("#create-instance")
    form.locator("input[name=name]").fill("web-1")
    form.locator("select[name=image]").select_option("astara-tenant")
    form.locator("select[name=flavor]").select_option("1")
    form.locator("label", has_text="web").locator("input").check()
    form.locator("button").click()
    expect(tenant).to_have_url(re.compile(r"/instances/[0-9a-f-]{36}$"))
    server_id = tenant.url.rsplit("/", 1)[1]
    expect(tenant.locator(f'[data-live="server:{server_id}"] .label')).to_have_text(
        "ACTIVE", timeout=120_000)
    tenant.screenshot(path=str(artefacts / "instance.png"), full_page=True)

    # A floating IP for it, from the external network.
    tenant.goto(f"{base}/floatingips")
    tenant.locator("button", has_text="Allocate").click()
    expect(tenant.locator(".flash")).to_contain_text("Floating IP allocated")
    fip_row = tenant.locator("tr", has_text="198.51.100.")
    port = fip_row.locator("option", has_text=server_id).get_attribute("value")
    fip_row.locator("select[name=port_id]").select_option(port)
    fip_row.locator("button", has_text="Save").click()
    expect(tenant.locator(".flash")).to_contain_text("Associated")

    # The topology: the router, the instance and the network, linked.
    tenant.goto(f"{base}/topology")
    for node in (router_id, server_id, ext_id):
        expect(tenant.locator(f'[data-node="{node}"]')).to_be_visible()
    expect(tenant.locator(f'line[data-edge^="{router_id}>"]')).to_have_count(2)  # ext, net
    expect(tenant.locator(f'line[data-edge^="{server_id}>"]')).to_have_count(1)
    expect(tenant.locator('[data-kind="floatingip"]')).to_have_count(1)
    expect(tenant.locator(f'line[data-edge$=">{server_id}"]')).to_have_count(1)
    shot = artefacts / "topology.png"
    tenant.screenshot(path=str(shot), full_page=True)
    if os.environ.get("ASTARA_DASHBOARD_SCREENSHOT"):
        (REPO / "docs" / "img").mkdir(exist_ok=True)
        shutil.copy(shot, REPO / "docs" / "img" / "dashboard.png")
    tenant.locator(f'[data-node="{router_id}"]').click()
    expect(tenant).to_have_url(f"{base}/routers/{router_id}")

    # The admin: drain and undrain the host, rebuild the router.
    admin = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    admin.goto(f"{base}/login")
    admin.fill("input[name=project]", "dash-admin")
    admin.select_option("select[name=role]", "admin")
    # The password astara-aio wrote 0600 in its state dir (a web page cannot read it).
    admin.fill("input[name=admin_password]", admin_password)
    admin.click("form button:has-text('Log in')")
    expect(admin).to_have_url(f"{base}/admin/hosts")
    host = admin.locator("tr[data-host]").first
    expect(host.locator(".placement")).to_have_text("accepting")
    host.locator("button", has_text="Drain").click()
    expect(admin.locator(".flash")).to_contain_text("drained")
    expect(admin.locator("tr[data-host]").first.locator(".placement")).to_have_text("drained")
    admin.screenshot(path=str(artefacts / "admin-hosts.png"), full_page=True)
    admin.locator("tr[data-host]").first.locator("button", has_text="Undrain").click()
    expect(admin.locator("tr[data-host]").first.locator(".placement")).to_have_text(
        "accepting")

    admin.goto(f"{base}/admin/routers")
    row = admin.locator(f'tr[data-router="{router_id}"]')
    appliance = row.locator("td").nth(5).inner_text()
    assert appliance != "-"
    row.locator("button", has_text="Rebuild").click()
    expect(admin.locator(".flash")).to_contain_text(f"Rebuild sent for {router_id}")

    def rebuilt():
        admin.goto(f"{base}/admin/routers")
        r = admin.locator(f'tr[data-router="{router_id}"] td')
        return r.nth(5).inner_text() not in ("-", appliance) and \
            r.nth(4).inner_text().startswith("Alive")
    wait_for(rebuilt, 240, "the router's new appliance", every=2)
    admin.screenshot(path=str(artefacts / "admin-routers.png"), full_page=True)

    admin.goto(f"{base}/admin/dead-letters")
    expect(admin.locator("h1")).to_have_text("Dead letters")
    expect(admin.locator("table")).to_be_visible()  # rows, or "No dead letters."
    admin.screenshot(path=str(artefacts / "admin-dead-letters.png"), full_page=True)

    # A load balancer on the tenant's subnet, with a listener, a pool and a member.
    tenant.goto(f"{base}/loadbalancers")
    tenant.locator("input[name=name]").fill("web-lb")
    tenant.locator("button", has_text="Create").click()
    expect(tenant.locator(".flash")).to_contain_text("Load balancer requested")
    tenant.locator("a", has_text="web-lb").click()
    expect(tenant.locator("h1")).to_have_text("Load balancer web-lb")
    form = tenant.locator("#create-listener")
    form.locator("input[name=protocol_port]").fill("80")
    form.locator("button").click()
    expect(tenant.locator(".flash")).to_contain_text("Listener on port 80 requested")
    form = tenant.locator("#create-pool")
    form.locator("select[name=listener_id]").select_option(index=1)
    form.locator("button").click()
    expect(tenant.locator(".flash")).to_contain_text("Pool requested")
    form = tenant.locator("form.add-member")
    form.locator("input[name=address]").fill("10.77.0.50")
    form.locator("input[name=protocol_port]").fill("80")
    form.locator("button").click()
    expect(tenant.locator(".flash")).to_contain_text("Member 10.77.0.50:80 requested")
    expect(tenant.locator("tr[data-listener]")).to_have_count(1)
    expect(tenant.locator("tr[data-pool]")).to_have_count(1)
    expect(tenant.locator("tr[data-member]", has_text="10.77.0.50:80")).to_be_visible()
    tenant.screenshot(path=str(artefacts / "loadbalancer.png"), full_page=True)
    tenant.locator("button", has_text="Delete load balancer").click()
    expect(tenant.locator(".flash")).to_contain_text("Load balancer deletion requested")

    def no_load_balancer():  # its VIP port gone before the network is deleted
        tenant.goto(f"{base}/loadbalancers")
        return "No load balancers." in tenant.content()
    wait_for(no_load_balancer, 120, "the load balancer gone", every=1)

    # The tenant deletes everything, through the pages.
    tenant.goto(f"{base}/floatingips")
    tenant.locator("button", has_text="Release").click()
    expect(tenant.locator(".flash")).to_contain_text("Floating IP released")
    tenant.goto(f"{base}/instances/{server_id}")
    tenant.locator("button", has_text="Delete").click()
    expect(tenant).to_have_url(f"{base}/instances")

    def no_instance():
        tenant.goto(f"{base}/instances")
        return "No instances yet." in tenant.content()
    wait_for(no_instance, 120, "the instance gone", every=1)
    tenant.goto(f"{base}/routers/{router_id}")
    tenant.locator("button", has_text="Remove").first.click()
    expect(tenant.locator(".flash")).to_contain_text("Interface removed")
    tenant.locator("button", has_text="Delete router").click()
    expect(tenant.locator(".flash")).to_contain_text("Router deleted")
    tenant.goto(f"{base}/networks")
    tenant.locator("tr", has_text="web").locator("button", has_text="Delete").click()
    expect(tenant.locator(".flash")).to_contain_text("Network deleted")
    expect(tenant.locator("text=No networks yet.")).to_be_visible()
    tenant.goto(f"{base}/topology")
    # No router uses the admin's external network any more: it is not drawn.
    expect(tenant.locator(f'[data-node="{ext_id}"]')).to_have_count(0)
    for kind in ("router", "server", "network"):
        expect(tenant.locator(f'[data-kind="{kind}"]')).to_have_count(0)


def _clean(user, admin, project: str, ext_id: str, lb_url: str) -> None:
    """Whatever a failed journey left, then every appliance gone (the stack's own
    teardown counts namespaces left behind)."""
    headers = {"X-Project-Id": project, "X-User-Id": "dash-clean", "X-Roles": "member"}
    lbs = httpx.get(f"{lb_url}/v2/lbaas/loadbalancers", headers=headers).json()
    for lb in lbs.get("loadbalancers", []):
        httpx.delete(f"{lb_url}/v2/lbaas/loadbalancers/{lb['id']}",
                     params={"cascade": "true"}, headers=headers)
    wait_for(lambda: not httpx.get(f"{lb_url}/v2/lbaas/loadbalancers", headers=headers)
             .json().get("loadbalancers"), 120, "load balancers gone", every=1)
    for s in user.compute.servers():
        user.compute.delete_server(s.id)
    wait_for(lambda: not list(user.compute.servers()), 120, "instances gone", every=1)
    for f in user.network.ips(project_id=project):
        user.network.delete_ip(f)
    for r in user.network.routers(project_id=project):
        for p in user.network.ports(device_id=r.id, device_owner="network:router_interface"):
            user.network.remove_interface_from_router(r, port_id=p.id)
        user.network.delete_router(r)
    for n in user.network.networks(project_id=project):
        user.network.delete_network(n)
    wait_for(lambda: not list(admin.compute.servers(all_projects=True)), 180,
             "every appliance gone", every=1)
    admin.network.delete_network(ext_id)
