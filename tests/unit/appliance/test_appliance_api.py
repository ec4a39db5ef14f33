"""The REST API v1 against the in-tree fakes, through httpx's ASGI transport (no root)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import httpx
import pytest
from _appliance_support import LINKS
from tests.support import wait_for

from astara.appliance import status as status_mod
from astara.appliance.api import MAX_BODY, SCOPE_KEY, Served, make_app
from astara.appliance.apply.fakes import FakeNetlink
from astara.wire import auth
from astara.wire.examples import router_document

KEY = b"deployment-key"
SECRET = auth.appliance_secret(KEY, "r1")
ROUTES = [("GET", "/v1/status/"), ("GET", "/v1/firewall/rules/"),
          ("GET", "/v1/system/interfaces/"), ("GET", "/v1/system/interface/ge1/"),
          ("GET", "/v1/system/stats/"), ("GET", "/v1/system/config/"),
          ("PUT", "/v1/system/config/"), ("GET", "/v1/no/such/route"),
          ("DELETE", "/v1/status/")]


def _client(served: Served, headers: dict | None = None) -> httpx.AsyncClient:
    app = make_app()

    async def one_appliance(scope, receive, send):
        await app({**scope, SCOPE_KEY: served}, receive, send)

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=one_appliance),
                             base_url="http://appliance",
                             headers={auth.HEADER: auth.bearer(SECRET)} if headers is None
                             else headers)


def call(appliance, *requests, headers: dict | None = None):
    """Run (method, path, kwargs) requests concurrently; return their responses."""
    async def go():
        async with _client(Served(appliance, SECRET), headers) as client:
            return await asyncio.gather(*(client.request(m, p, **kw) for m, p, kw in requests))
    return asyncio.run(go())


def put(appliance, doc):
    return call(appliance, ("PUT", "/v1/system/config/", {"json": doc}))[0]


def get(appliance, path):
    return call(appliance, ("GET", path, {}))[0]


def _unchanged(appliance, netlink):
    return appliance.applies == 0 and netlink.log == [] and appliance.ports.nft.loads == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (router_document(version="9"), "unsupported config version '9'; supported: ['1']"),
        ({"hostname": "x"}, "unsupported config version None; supported: ['1']"),
        ([1, 2], "the config document must be a JSON object"),
        (router_document(surprise=True), "invalid config document: 1 error(s)"),
    ],
)
def test_refused_documents_are_422_with_a_message_and_change_nothing(appliance, netlink,
                                                                       body, message):
    res = put(appliance, body)
    assert res.status_code == 422 and res.json()["error"] == message
    assert _unchanged(appliance, netlink)


def test_invalid_fields_are_explained_one_by_one(appliance, netlink):
    doc = router_document(floating_ips=[{"floating_ip": "203.0.113.9", "fixed_ip": "nope"}])
    res = put(appliance, doc)
    assert res.status_code == 422
    [detail] = res.json()["details"]
    assert detail["loc"] == ["floating_ips", 0, "fixed_ip"] and "IPv4" in detail["msg"]
    assert _unchanged(appliance, netlink)


def test_body_that_is_not_json_is_422(appliance, netlink):
    res = call(appliance, ("PUT", "/v1/system/config/", {"content": b"{nope"}))[0]
    assert res.status_code == 422 and _unchanged(appliance, netlink)


def test_document_that_does_not_fit_the_appliance_is_422(appliance, netlink):
    doc = router_document()
    doc["networks"][3]["interface"]["mac_address"] = "fa:16:3e:99:99:99"
    res = put(appliance, doc)
    assert res.status_code == 422 and "no interface with MAC fa:16:3e:99:99:99" in res.json()[
        "error"]
    assert _unchanged(appliance, netlink)


def test_put_then_identical_put_is_a_noop(appliance):
    first = put(appliance, router_document(2))
    assert first.status_code == 200
    assert first.json()["changed"] is True and first.json()["nft"] == "full"
    again = put(appliance, router_document(2)).json()
    assert again == {**first.json(), "changed": False, "nft": "none", "dhcp": [],
                     "netlink_ops": 0}
    assert get(appliance, "/v1/system/config/").json() == put_json(router_document(2))


def put_json(doc):
    from astara.wire import parse_config
    return parse_config(doc).model_dump(mode="json")


def test_config_before_any_push_is_404(appliance):
    assert get(appliance, "/v1/system/config/").status_code == 404


def test_status_reports_the_applied_document_and_the_interfaces(appliance):
    before = get(appliance, "/v1/status/").json()
    assert before["config_digest"] is None and before["applies"] == 0
    body = put(appliance, router_document(1)).json()
    status = get(appliance, "/v1/status/").json()
    assert status["config_digest"] == body["digest"] and status["applies"] == 1
    assert status["hostname"] == "ak-router-1" and status["last_error"] is None
    assert [i["ifname"] for i in status["interfaces"]] == ["ge0", "ge1", "ge2", "ge3"]
    ge2 = next(i for i in status["interfaces"] if i["ifname"] == "ge2")
    assert ge2["up"] and ge2["addresses"] == ["192.0.2.1/24", "fd00:1::1/64"]
    assert {s["name"] for s in status["services"]} == {"nftables", "dnsmasq-ge2",
                                                       "dnsmasq-ge3"}


def test_interfaces_and_one_interface(appliance):
    put(appliance, router_document())
    names = [i["ifname"] for i in get(appliance, "/v1/system/interfaces/").json()["interfaces"]]
    assert names == ["ge0", "ge1", "ge2", "ge3"]
    one = get(appliance, "/v1/system/interface/ge1/").json()["interface"]
    assert one["mac_address"] == "fa:16:3e:00:00:02" and one["addresses"] == ["203.0.113.2/24"]
    missing = get(appliance, "/v1/system/interface/ge9/")
    assert missing.status_code == 404 and missing.json() == {"error": "no such interface"}


def test_firewall_rules_show_the_loaded_ruleset(appliance):
    put(appliance, router_document(1))
    text = get(appliance, "/v1/firewall/rules/").text
    assert "table inet astara" in text and "203.0.113.10 : 192.0.2.10" in text


def test_stats(appliance):
    put(appliance, router_document())
    stats = get(appliance, "/v1/system/stats/").json()
    assert set(stats["interfaces"]) == {"ge0", "ge1", "ge2", "ge3"}
    assert set(stats["interfaces"]["ge1"]) == {"rx_bytes", "rx_packets", "tx_bytes",
                                               "tx_packets"}
    assert stats["nat"]["snat_packets"] == 0


class GatedNetlink(FakeNetlink):
    """Holds the first apply inside ``observe`` until ``gate(self)`` is true, and
    records how many applies were inside it at once."""

    def __init__(self, links, gate):
        super().__init__(links)
        self.inside = self.most = 0
        self.entered = threading.Event()
        self._gate = gate
        self._count = threading.Lock()

    def observe(self, full=True):
        with self._count:
            self.inside += 1
            self.most = max(self.most, self.inside)
            first = not self.entered.is_set()
            self.entered.set()
        try:
            if first:
                wait_for(lambda: self._gate(self), 10, "the test to open the gate")
        finally:
            with self._count:
                self.inside -= 1
        return super().observe(full)


class WatchedLock(asyncio.Lock):
    """The appliance's lock, counting the callers waiting to take it."""

    waiting = 0

    async def acquire(self):
        self.waiting += 1
        try:
            return await super().acquire()
        finally:
            self.waiting -= 1


def test_concurrent_puts_are_applied_one_at_a_time(appliance):
    lock = WatchedLock()
    # the first apply goes on once the three others wait for the lock, or have
    # joined it in observe (the lock does not hold them): no timing involved
    gated = GatedNetlink(LINKS, lambda n: n.most > 1 or lock.waiting == 3)
    appliance.ports.netlink = gated
    docs = [router_document(0, hostname=f"r{i}") for i in range(4)]

    async def go():
        async with _client(Served(appliance, SECRET, lock)) as client:
            return await asyncio.gather(*(client.put("/v1/system/config/", json=d)
                                          for d in docs))

    responses = asyncio.run(go())
    assert [r.status_code for r in responses] == [200] * 4
    assert gated.most == 1 and appliance.applies == 4
    assert appliance.config.hostname in {d["hostname"] for d in docs}


def test_reads_do_not_wait_for_an_apply(appliance):
    read_done = threading.Event()
    gated = GatedNetlink(LINKS, lambda n: read_done.is_set())
    appliance.ports.netlink = gated

    async def go():
        async with _client(Served(appliance, SECRET)) as client:
            put_task = asyncio.create_task(
                client.put("/v1/system/config/", json=router_document()))
            assert await asyncio.to_thread(gated.entered.wait, 10)  # the PUT holds the lock
            try:  # a read that waited for the apply would wait for ever: bounded
                config = await asyncio.wait_for(client.get("/v1/system/config/"), 5)
            finally:
                read_done.set()
            return config, await put_task

    config, done = asyncio.run(go())
    assert config.status_code == 404 and done.status_code == 200  # read saw the old state


@pytest.mark.parametrize("headers", [
    {}, {auth.HEADER: "Bearer "}, {auth.HEADER: "Bearer wrong"}, {auth.HEADER: SECRET},
    {auth.HEADER: auth.bearer(auth.appliance_secret(KEY, "r2"))},  # another appliance's
    {auth.HEADER: auth.bearer(auth.appliance_secret(b"other-key", "r1"))},
    {"X-Auth-Token": SECRET},
], ids=["none", "empty", "wrong", "no-scheme", "other-appliance", "other-key", "other-header"])
def test_every_route_refuses_a_caller_without_this_appliances_secret(appliance, netlink,
                                                                      headers):
    responses = call(appliance, *((m, p, {"json": router_document()} if m == "PUT" else {})
                                  for m, p in ROUTES), headers=headers)
    assert [r.status_code for r in responses] == [401] * len(ROUTES)
    assert all(r.json() == {"error": "authentication required"} for r in responses)
    assert _unchanged(appliance, netlink) and appliance.config is None


def test_the_right_secret_opens_every_route(appliance):
    assert put(appliance, router_document()).status_code == 200
    responses = call(appliance, *((m, p, {}) for m, p in ROUTES if m == "GET"))
    assert [r.status_code for r in responses] == [200] * 6 + [404]
    assert responses[-1].json() == {"error": "Not Found"}


def test_unknown_method_is_a_json_405(appliance):
    res = call(appliance, ("DELETE", "/v1/status/", {}))[0]
    assert res.status_code == 405 and res.json() == {"error": "Method Not Allowed"}


def test_a_body_over_the_bound_is_413_and_changes_nothing(appliance, netlink):
    res = call(appliance, ("PUT", "/v1/system/config/",
                           {"content": b"[" * (MAX_BODY + 1)}))[0]
    assert res.status_code == 413 and "larger than" in res.json()["error"]
    assert _unchanged(appliance, netlink)


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000,
                                  b'{"version": "1", "\\ud800": 1}',
                                  b"\xff\xfe", b'{"version": ["1"]}'],
                         ids=["deep", "lone-surrogate", "not-utf8", "list-version"])
def test_hostile_bodies_are_a_json_422(appliance, netlink, body):
    res = call(appliance, ("PUT", "/v1/system/config/", {"content": body}))[0]
    assert res.status_code == 422 and isinstance(res.json()["error"], str)
    assert _unchanged(appliance, netlink)


def test_a_watched_status_is_kept_until_a_change_or_an_apply(appliance, netlink):
    """The health check's answer costs no observation while nothing changes; a change
    reported by the kernel, an apply, or the safety-net age makes it observe again."""
    now = [0.0]
    served = Served(appliance, SECRET, status=status_mod.Cache(clock=lambda: now[0],
                                                               max_age=600))
    served.status.watched = True
    watched: list[list[int]] = []
    served.watch = watched.append
    looks = []
    observe = netlink.observe
    netlink.observe = lambda full=True: looks.append(1) or observe(full)

    async def go():
        async with _client(served) as client:
            async def status():
                return (await client.get("/v1/status/")).json()

            first = await status()
            netlink.links["ge1"] = dataclasses.replace(netlink.links["ge1"], mtu=1400)
            assert await status() == first and len(looks) == 1  # kept: nobody said
            served.status.changed()  # e.g. RTM_NEWLINK in the namespace
            changed = await status()
            assert len(looks) == 2 and changed != first
            assert (await client.put("/v1/system/config/", json=router_document(1))).json()
            applied = await status()
            assert applied["config_digest"] and len(looks) == 4  # the apply observed once
            assert await status() == applied and len(looks) == 4
            now[0] += 601
            await status()
            assert len(looks) == 5
    asyncio.run(go())
    assert watched and watched[-1] == sorted(appliance.ports.dnsmasq.pids.values())


def test_an_unwatched_status_is_observed_every_time(appliance, netlink):
    looks = []
    observe = netlink.observe
    netlink.observe = lambda full=True: looks.append(1) or observe(full)
    get(appliance, "/v1/status/")
    get(appliance, "/v1/status/")
    assert len(looks) == 2


def test_the_kept_status_is_answered_only_to_an_authenticated_plain_get():
    from types import SimpleNamespace

    from astara.appliance.api import cached_status

    box = SimpleNamespace(digest="d1", applies=1, last_error=None, config=None)
    served = Served(box, SECRET)  # type: ignore[arg-type]
    served.status.watched = True
    served.status.store(served.status.mark(box), b'{"kept": true}')
    good = [(b"authorization", f"Bearer {SECRET}".encode())]

    def scope(method="GET", path="/v1/status/", headers=good):
        return {"method": method, "path": path, "headers": headers}

    assert cached_status(scope(), served) == b'{"kept": true}'
    # anything else goes through the app: its 401, its routing, its body bounds
    assert cached_status(scope(headers=[]), served) is None
    assert cached_status(scope(headers=[(b"authorization", b"Bearer wrong")]), served) is None
    assert cached_status(scope(headers=[(b"authorization", b"Bearer wrong"), *good]),
                         served) is None  # the first header counts, as for the app
    assert cached_status(scope(headers=[*good, (b"content-length", b"3")]), served) is None
    assert cached_status(scope(method="PUT"), served) is None
    assert cached_status(scope(path="/v1/status"), served) is None
    box.applies = 2  # an apply since: observed again
    assert cached_status(scope(), served) is None
