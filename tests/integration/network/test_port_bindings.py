"""``PUT /v2.0/astara_port_bindings``: several ports bound in one transaction, an admin's
only; each checked as ``PUT /ports/{id}`` with ``binding:host_id`` is; all or none."""

from __future__ import annotations

from tests.integration.network.helpers import error, tenant_network


def _ports(demo, n: int, cidr: str) -> list:
    net, _ = tenant_network(demo, cidr=cidr)
    return [demo.sdk.network.create_port(network_id=net.id) for _ in range(n)]


def _hosts(admin, ports) -> list[str]:
    return [admin.sdk.network.get_port(p.id).binding_host_id for p in ports]


def test_an_admin_binds_every_port_in_one_call_each_notified(admin, demo):
    ports = _ports(demo, 3, "10.81.0.0/24")
    with admin.http() as c:
        r = c.put("/astara_port_bindings", json={"bindings": [
            {"port_id": p.id, "host": "compute-7"} for p in ports]})
    assert r.status_code == 200, r.text
    assert [p["id"] for p in r.json()["ports"]] == [p.id for p in ports]
    assert _hosts(admin, ports) == ["compute-7"] * 3


def test_a_member_binds_nothing_even_its_own_ports(demo, admin):
    ports = _ports(demo, 2, "10.81.1.0/24")
    with demo.http() as c:
        r = c.put("/astara_port_bindings", json={"bindings": [
            {"port_id": p.id, "host": "compute-7"} for p in ports]})
    assert r.status_code == 403
    assert error(r)["type"] == "PolicyNotAuthorized"
    assert _hosts(admin, ports) == ["", ""]


def test_a_port_not_found_binds_none_of_the_others(demo, admin):
    ports = _ports(demo, 2, "10.81.2.0/24")
    missing = "0c1d0000-0000-4000-8000-00000000dead"
    with admin.http() as c:
        r = c.put("/astara_port_bindings", json={"bindings": [
            {"port_id": ports[0].id, "host": "h"}, {"port_id": missing, "host": "h"},
            {"port_id": ports[1].id, "host": "h"}]})
    assert r.status_code == 404
    assert error(r)["type"] == "PortNotFound" and missing in error(r)["message"]
    assert _hosts(admin, ports) == ["", ""]


def test_bad_bodies_are_refused_in_neutrons_words(demo, admin):
    port = _ports(demo, 1, "10.81.3.0/24")[0]
    one = {"port_id": port.id, "host": "h"}
    bodies = [{}, {"bindings": []}, {"bindings": "x"}, {"bindings": [one], "more": 1},
              {"bindings": [{"port_id": port.id}]}, {"bindings": [{**one, "x": 1}]},
              {"bindings": [{"port_id": 7, "host": "h"}]},
              {"bindings": [{"port_id": port.id, "host": 7}]},
              {"bindings": [one, one]}, {"bindings": [one] * 65}, [one]]
    with admin.http() as c:
        for body in bodies:
            r = c.put("/astara_port_bindings", json=body)
            assert r.status_code == 400, (body, r.text)
            assert error(r)["type"] == "HTTPBadRequest", body
    assert _hosts(admin, [port]) == [""]
