"""``astara-burnin`` against APIs under ``auth_strategy = keystone``.

The scenario's API-level steps (no root, no namespaces: the identity check, the
external network, the tenant networks, the router with its gateway and interfaces,
two instances ACTIVE on a compute host's agent with the in-tree backend) and its
cleanup, run with a member's cloud for the tenant and an admin's for the external
network, each with one token, the APIs found in Keystone's catalog. The command:
a wrong password, a member's cloud without an admin's, or named as the admin's, and an
unknown admin's cloud are one line and exit 1.
"""

from __future__ import annotations

import uuid

from astara.burnin import clouds
from astara.burnin.scenario import Options, Scenario
from astara.burnin.steps import Step, StepFailed
from astara.common import cloud_auth
from tests.integration.keystone.test_keystone_clients import bad_password, run

API_STEPS = ("requests without identity are refused", "external network",
             "tenant networks (one dual-stack)", "router with gateway and interfaces",
             "instances ACTIVE")


def test_the_burnins_api_steps_and_cleanup_as_a_member(keystone_cloud, monkeypatch):
    c = keystone_cloud
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", c.clouds_yaml)
    for name in ("OS_CLOUD", "OS_AUTH_URL"):
        monkeypatch.delenv(name, raising=False)
    user, admin = cloud_auth.login("astara"), cloud_auth.login("astara-admin")
    assert clouds.admin_refusal(admin.where, admin.roles, ha=True) is None
    o = Options(network_url=clouds.api_url(None, user, "network", ""),
                compute_url=clouds.api_url(None, user, "compute", ""),
                loadbalancer_url=clouds.api_url(None, user, "load-balancer", ""),
                run_id=f"ks{uuid.uuid4().hex[:6]}", boot_timeout=30)
    assert (o.network_url, o.compute_url) == (c.network_url + "/",
                                             c.compute_url.removesuffix("v2.1"))
    tokens = {"user": user.session.auth.auth_ref, "admin": admin.session.auth.auth_ref}
    lines: list[str] = []
    sc = Scenario(o, echo=lines.append, user=clouds.connection(o, user.session),
                  admin=clouds.connection(o, admin.session))
    demo, admin_project = c.env["KEYSTONE_DEMO_PROJECT_ID"], admin.project_id
    assert demo != admin_project

    def owners() -> None:
        """The tenant's resources are the member's project's, the external network the
        admin's (read by the admin, who sees every project's)."""
        a = sc.admin
        mine = [a.network.get_network(sc.made[k]).project_id for k in ("net1", "net2")]
        mine += [a.network.get_router(sc.made["router"]).project_id]
        mine += [a.compute.get_server(sc.made[k]).project_id for k in ("vm1", "vm2")]
        ports = [p.project_id for p in a.network.ports(device_id=sc.made["vm1"])]
        if set(mine + ports) != {demo} or not ports:
            raise StepFailed(f"owned by {set(mine + ports)}, not only {demo}")
        if a.network.get_network(sc.made["ext_net"]).project_id != admin_project:
            raise StepFailed("the external network is not the admin's")

    steps = [s for s in sc.steps() if s.name in API_STEPS]
    assert [s.name for s in steps] == list(API_STEPS)
    with c.compute_host():
        report = sc.run([*steps, Step("owners", owners)])
    assert report.ok and [s.status for s in report.steps] == ["ok"] * 6, lines
    # The cleanup left nothing of the run, as the admin sees it.
    a = sc.admin
    assert not [n for n in a.network.networks() if n.name.startswith(sc.prefix)]
    assert not [r for r in a.network.routers() if r.name.startswith(sc.prefix)]
    assert not [s for s in a.compute.servers(all_projects=True)
                if s.name.startswith(sc.prefix)]
    # One token each, fetched at login, every call of the run made with it.
    assert sc.user.session is user.session and sc.admin.session is admin.session
    assert user.session.auth.auth_ref is tokens["user"]
    assert admin.session.auth.auth_ref is tokens["admin"]


def test_the_burnin_command_without_the_right_credentials_is_one_line(keystone_cloud,
                                                                        tmp_path):
    c = keystone_cloud
    r = run(bad_password(c, tmp_path), "astara-burnin", "--os-cloud", "bad")
    assert (r.returncode, r.stderr.count("\n")) == (1, 1), r.stderr
    assert r.stderr.startswith("astara-burnin: Keystone refused the credentials of cloud "
                               "'bad': The request you have made requires authentication")
    users = {"OS_CLIENT_CONFIG_FILE": c.clouds_yaml}
    # A member's token alone: the admin steps named, before anything is made.
    r = run({**users, "OS_CLOUD": "astara"}, "astara-burnin", "--skip-loadbalancer")
    assert (r.returncode, r.stderr.count("\n")) == (1, 1), r.stderr
    assert r.stderr.startswith("astara-burnin: cloud 'astara' has no admin role (")
    assert "the external network (router:external is admin-only)" in r.stderr
    assert "add --admin-cloud NAME" in r.stderr and r.stdout == ""
    # The member's cloud named as the admin's too: one login, and the remedy is another
    # cloud there.
    r = run({**users}, "astara-burnin", "--os-cloud", "astara", "--admin-cloud", "astara")
    assert (r.returncode, r.stderr.count("\n")) == (1, 1), r.stderr
    assert r.stderr.startswith("astara-burnin: cloud 'astara' has no admin role (")
    assert "--admin-cloud must name a cloud with the admin role" in r.stderr
    r = run({**users}, "astara-burnin", "--os-cloud", "astara", "--admin-cloud", "nowhere")
    assert (r.returncode, r.stderr.count("\n")) == (1, 1), r.stderr
    assert r.stderr.startswith("astara-burnin: cloud 'nowhere': ")
