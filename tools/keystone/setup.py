"""Fills a freshly bootstrapped Keystone with what Astara's tests and all-in-one use.

Run by tools/keystone-loopback with the Keystone venv's Python (python-keystoneclient
comes with Keystone), as the bootstrap admin. Idempotent: a second run finds what the
first made. Makes: the ``service`` project and the ``astara`` service user (admin and
service roles there), the ``demo`` project with ``demo-member`` (member) and
``demo-reader`` (reader), and the catalog entries for network, compute,
load-balancer and image (the compute API's read-only Glance view) at the URLs given; then writes DIR/clouds.yaml (0600) with one cloud per
user: ``astara`` (demo member), ``astara-reader``, ``astara-admin``, ``astara-service``.

usage: setup.py DIR AUTH_URL NETWORK_URL COMPUTE_URL LOADBALANCER_URL IMAGE_URL
(passwords are read from DIR/passwords, one NAME=VALUE a line)
"""

import os
import sys

from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client

REGION = "RegionOne"


def one(manager, name, **create):
    found = [x for x in manager.list() if x.name == name]
    return found[0] if found else manager.create(name=name, **create)


def main() -> int:
    directory, auth_url, network_url, compute_url, lb_url, image_url = sys.argv[1:7]
    with open(os.path.join(directory, "passwords")) as f:
        pw = dict(line.strip().split("=", 1) for line in f if "=" in line)
    admin = v3.Password(auth_url=auth_url, username="admin", password=pw["admin"],
                        project_name="admin", user_domain_id="default",
                        project_domain_id="default")
    ks = client.Client(session=session.Session(auth=admin))
    roles = {name: one(ks.roles, name) for name in ("admin", "member", "reader", "service")}

    def user(name, password, project, role_names):
        u = [x for x in ks.users.list(domain="default") if x.name == name]
        u = u[0] if u else ks.users.create(name=name, domain="default", password=password)
        ks.users.update(u, password=password)  # a restart keeps what passwords says
        for r in role_names:
            ks.roles.grant(roles[r], user=u, project=project)

    service = one(ks.projects, "service", domain="default")
    demo = one(ks.projects, "demo", domain="default")
    user("astara", pw["astara"], service, ("admin", "service"))
    user("demo-member", pw["demo-member"], demo, ("member",))
    user("demo-reader", pw["demo-reader"], demo, ("reader",))

    for kind, name, url in (("network", "neutron", network_url),
                            ("compute", "nova", compute_url),
                            ("load-balancer", "octavia", lb_url),
                            ("image", "glance", image_url)):
        svc = [s for s in ks.services.list() if s.type == kind]
        svc = svc[0] if svc else ks.services.create(name=name, type=kind)
        have = {e.interface: e for e in ks.endpoints.list(service=svc)}
        for interface in ("public", "internal", "admin"):
            if interface in have:
                ks.endpoints.update(have[interface], url=url)
            else:
                ks.endpoints.create(svc, url, interface=interface, region=REGION)

    clouds = {"astara": ("demo-member", "demo"), "astara-reader": ("demo-reader", "demo"),
              "astara-admin": ("admin", "admin"), "astara-service": ("astara", "service")}
    lines = ["clouds:"]
    for cloud, (name, project) in clouds.items():
        lines += [f"  {cloud}:", "    auth:", f"      auth_url: {auth_url}",
                  f"      username: {name}", f"      password: {pw[name]}",
                  f"      project_name: {project}", "      user_domain_name: Default",
                  "      project_domain_name: Default", f"    region_name: {REGION}",
                  "    identity_api_version: 3"]
    path = os.path.join(directory, "clouds.yaml")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"service_project_id={service.id}\ndemo_project_id={demo.id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
