"""The management network is found among the service project's networks only: a
tenant's network carrying its name is never taken for it."""

import json

import httpx
import pytest

from astara.orchestrator import management
from astara.orchestrator import opts as orch_opts


def _api(networks: list[dict], made: list[dict]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"networks": networks})
        body = json.loads(request.content)
        made.append(body)
        if request.url.path.endswith("/networks"):
            return httpx.Response(201, json={"network": {"id": "new-net", **body["network"]}})
        return httpx.Response(201, json={"subnet": {"id": "new-sub"}})
    return httpx.Client(base_url="http://net", transport=httpx.MockTransport(handle))


def test_a_tenants_network_named_like_it_is_ignored_and_ours_is_made(caplog):
    o = orch_opts.defaults()
    made: list[dict] = []
    tenant = {"id": "evil", "name": o.management_network_name, "project_id": "tenant-a"}
    with _api([tenant], made) as http:
        assert management.ensure_network(o, http) == "new-net"
    assert made[0]["network"]["name"] == o.management_network_name
    assert "evil" in caplog.text and "not ours" in caplog.text


def test_ours_is_found_beside_a_tenants():
    o = orch_opts.defaults()
    made: list[dict] = []
    nets = [{"id": "evil", "name": o.management_network_name, "project_id": "tenant-a"},
            {"id": "ours", "name": o.management_network_name,
             "project_id": o.service_project_id}]
    with _api(nets, made) as http:
        assert management.ensure_network(o, http) == "ours"
    assert made == []


def test_members_that_made_one_each_at_once_keep_the_oldest():
    o = orch_opts.defaults()
    calls: list[tuple[str, str]] = []
    lists = iter([[], [
        {"id": "new-net", "name": o.management_network_name, "created_at": "2026-12-03T06:00:01Z",
         "project_id": o.service_project_id},
        {"id": "theirs", "name": o.management_network_name, "created_at": "2026-12-03T06:00:00Z",
         "project_id": o.service_project_id}]])

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path))
        if request.method == "GET" and request.url.path.endswith("/ports"):
            return httpx.Response(200, json={"ports": []})
        if request.method == "GET":
            return httpx.Response(200, json={"networks": next(lists)})
        if request.method == "DELETE":
            return httpx.Response(204)
        if request.url.path.endswith("/networks"):
            return httpx.Response(201, json={"network": {"id": "new-net"}})
        return httpx.Response(201, json={"subnet": {"id": "new-sub"}})

    with httpx.Client(base_url="http://net", transport=httpx.MockTransport(handle)) as http:
        assert management.ensure_network(o, http) == "theirs"
    assert ("DELETE", "/v2.0/networks/new-net") in calls


def _net(o, nid: str, at: str) -> dict:
    return {"id": nid, "name": o.management_network_name, "created_at": at,
            "project_id": o.service_project_id}


def test_finding_uses_the_same_rule_as_settling_the_oldest_not_the_first_listed():
    o = orch_opts.defaults()
    # The network API lists by id: "aaaa" first, though "bbbb" is older.
    nets = [_net(o, "aaaa", "2026-12-03T06:00:01Z"), _net(o, "bbbb", "2026-12-03T06:00:00Z")]
    with _api(nets, []) as http:
        assert management.ensure_network(o, http) == "bbbb"


class _Shared:
    """One network API two members use, and the lock they share."""

    def __init__(self, o):
        self.o, self.nets, self.calls, self.n = o, [], [], 0

    def client(self, lock_state: dict) -> httpx.Client:
        def handle(request: httpx.Request) -> httpx.Response:
            self.calls.append((request.method, request.url.path, lock_state["held"]))
            if request.method == "GET":
                return httpx.Response(200, json={"networks": list(self.nets)})
            if request.url.path.endswith("/networks"):
                self.n += 1
                net = _net(self.o, f"net-{self.n}", "2026-12-03T06:00:00Z")
                self.nets.append(net)
                return httpx.Response(201, json={"network": net})
            return httpx.Response(201, json={"subnet": {"id": "s"}})
        return httpx.Client(base_url="http://net", transport=httpx.MockTransport(handle))


def test_members_find_or_create_under_the_cluster_lock_so_only_one_creates():
    from astara.orchestrator.cluster.membership import StaticMembership

    o = orch_opts.defaults()
    api = _Shared(o)
    state = {"held": False}
    a, b = StaticMembership("orch-a"), StaticMembership("orch-b")

    class Watched:
        def __init__(self, m):
            self.cm = m.lock("astara-management-network", 5.0)

        def __enter__(self):
            held = self.cm.__enter__()
            state["held"] = held
            return held

        def __exit__(self, *exc):
            state["held"] = False
            return self.cm.__exit__(*exc)

    with api.client(state) as http:
        got = {management.ensure_network(o, http, Watched(a)),
               management.ensure_network(o, http, Watched(b))}
    assert got == {"net-1"} and len(api.nets) == 1
    assert api.calls and all(held for _, _, held in api.calls)


def test_without_the_lock_a_network_with_ports_is_never_deleted_and_a_failed_delete_is_logged(
        caplog):
    o = orch_opts.defaults()
    for ports, status in (([{"id": "p"}], 204), ([], 409)):
        lists = iter([[], [_net(o, "mine", "2026-12-03T06:00:01Z"),
                           _net(o, "old", "2026-12-03T06:00:00Z")]])
        calls: list[tuple[str, str]] = []

        def handle(request: httpx.Request, lists=lists, calls=calls, ports=ports,
                   status=status) -> httpx.Response:
            calls.append((request.method, request.url.path))
            if request.method == "GET" and request.url.path.endswith("/ports"):
                return httpx.Response(200, json={"ports": ports})
            if request.method == "GET":
                return httpx.Response(200, json={"networks": next(lists)})
            if request.method == "DELETE":
                return httpx.Response(status, json={"NeutronError": {"type": "NetworkInUse"}})
            if request.url.path.endswith("/networks"):
                return httpx.Response(201, json={"network": {"id": "mine"}})
            return httpx.Response(201, json={"subnet": {"id": "s"}})

        with httpx.Client(base_url="http://net", transport=httpx.MockTransport(handle)) as h:
            assert management.ensure_network(o, h) == "old"
        deleted = ("DELETE", "/v2.0/networks/mine") in calls
        assert deleted is (not ports)
    assert "not deleting ours" in caplog.text and "not deleted: 409" in caplog.text


@pytest.mark.parametrize("answer", [httpx.Response(500, text="<html>oops</html>"),
                                    httpx.Response(403, json={"NeutronError": {}})])
def test_a_failed_port_listing_keeps_our_network(answer, caplog):
    o = orch_opts.defaults()
    lists = iter([[], [_net(o, "mine", "2026-12-03T06:00:01Z"),
                       _net(o, "old", "2026-12-03T06:00:00Z")]])
    calls: list[tuple[str, str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path))
        if request.method == "GET" and request.url.path.endswith("/ports"):
            return answer
        if request.method == "GET":
            return httpx.Response(200, json={"networks": next(lists)})
        if request.url.path.endswith("/networks"):
            return httpx.Response(201, json={"network": {"id": "mine"}})
        return httpx.Response(201, json={"subnet": {"id": "s"}})

    with httpx.Client(base_url="http://net", transport=httpx.MockTransport(handle)) as h:
        assert management.ensure_network(o, h) == "old"
    assert ("DELETE", "/v2.0/networks/mine") not in calls
    assert "could not be listed" in caplog.text
