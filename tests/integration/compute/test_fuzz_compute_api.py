"""Property-based fuzzing of the compute API over HTTP (issue 9): never a 5xx.

The session's compute stack (uvicorn on a free loopback port, the network API
behind it, an agent with the fake backend and the dispatcher; SQLite, or
PostgreSQL with ``ASTARA_TEST_DATABASE_URL``) receives at least ``ASTARA_FUZZ_REQUESTS``
(10,000) generated requests over every route and method, from two member projects
and an admin: valid shapes mixed with wrong types, nulls, huge and odd strings
(lone surrogates, NUL, ``..``), deep nesting, oversized bodies, the other project's
ids, missing ids and odd query strings and microversions. Every answer must be
below 500 and every 4xx a Nova fault body. Afterwards the service still answers
and ``check_consistency`` finds the database sound. The seed is printed; set
``ASTARA_FUZZ_SEED`` to replay a run.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.support import wait_for

from astara.compute_service import catalog, jobs
from astara.compute_service.models import DeadLetter, Instance, Job, QuotaUsage

SEED = int(os.environ.get("ASTARA_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
REQUESTS = int(os.environ.get("ASTARA_FUZZ_REQUESTS", "10000"))
BATCH = 50
FAULTS = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
          405: "badMethod", 406: "computeFault", 409: "conflictingRequest",
          413: "overLimit"}
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
WHO = ["a", "b", "admin"]


@dataclass(frozen=True)
class Ref:
    """An id chosen when the request is sent: ``kind`` server/net/port of ``owner``."""
    kind: str
    owner: str
    pick: int


@dataclass(frozen=True)
class Raw:
    """A body sent as these bytes, not as JSON (``big`` is built at send time)."""
    text: str


class Huge:
    """A 70,000-character string, made at send time (cheap to draw and to print)."""

    def __repr__(self) -> str:
        return "Huge()"


@dataclass
class World:
    """What the run has created so far, per project key (a, b, admin)."""
    projects: dict[str, str]
    servers: dict[str, list[str]] = field(default_factory=lambda: {w: [] for w in WHO})
    nets: dict[str, list[str]] = field(default_factory=lambda: {w: [] for w in WHO})
    ports: dict[str, list[str]] = field(default_factory=lambda: {w: [] for w in WHO})
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def resolve(self, ref: Ref) -> str:
        if ref.kind == "missing":
            return str(uuid.UUID(int=ref.pick))
        pool = getattr(self, ref.kind + "s")[ref.owner]
        return pool[ref.pick % len(pool)] if pool else str(uuid.uuid4())


# -- strategies -------------------------------------------------------------------------
ODD = ["", " ", "..", "../ports", "a/b", "%2e%2e", "\x00", "nul\x00inside", "\ud800",
       "x\udfffy", "\u2028", "\ufeff", "é" * 300, "1e400", "-1", "0", "null",
       "(a+)+$", "((", "'; DROP TABLE compute_instances; --", "\\", "\"", "{}", "[]",
       "2.999", "latest", "2026-13-45T99:99:99Z", "\r\nX-Injected: 1"]


def deep(n: int) -> object:
    value: object = 1
    for i in range(n):
        value = [value] if i % 2 else {"d": value}
    return value


# Odd values are drawn from a fixed pool (one choice each): drawing them piecewise cost
# hypothesis ~5 ms per request, more than the request itself.
POOL: list = [None, True, False, 0, 1, -1, -2, 2**31, 2**64, -2**63, 10**30, 0.5, -0.0,
              float("inf"), float("-inf"), float("nan"), 1e308, Huge(), [], {}, [None],
              [1, "a"], {"a": 1}, {"": None}, {"server": None}, {"name": ["x"]},
              [[[]]], "a" * 255, "b" * 256, "\u00e9" * 200, "\U0001f600", "\ud83d",
              "\x7f", "\t", "\n", "abc", "ACTIVE", "fuzz-vm",
              ] + ODD + [deep(n) for n in (2, 5, 20, 31, 33, 60, 200)]
junk = st.one_of(st.sampled_from(POOL), st.sampled_from(POOL), st.sampled_from(POOL),
                 st.text(max_size=8), st.integers(), st.lists(st.sampled_from(POOL), max_size=3),
                 st.dictionaries(st.sampled_from(ODD), st.sampled_from(POOL), max_size=3))


def ref(kind: str) -> st.SearchStrategy:
    return st.builds(Ref, st.just(kind), st.sampled_from(WHO), st.integers(0, 50))


# one_of flattens nested one_ofs (repeating a branch does not weigh it), so the odds
# between a valid value and junk are drawn explicitly
ODDS = st.integers(0, 9)


@st.composite
def either(draw, valid: st.SearchStrategy, valid_in_10: int = 7, other=None):
    """``valid`` about ``valid_in_10`` times in 10, else ``other`` (junk)."""
    return draw(valid) if draw(ODDS) < valid_in_10 else draw(junk if other is None else other)


MUTATIONS = st.sampled_from([0, 0, 0, 1, 1, 2])
MUTATION = st.sampled_from(["drop", "junk", "junk", "extra"])
INDEX = st.integers(0, 2**16)


@st.composite
def shaped(draw, required: dict, optional: dict | None = None) -> dict:
    """A body of the right shape, then (half the time) one or two fields broken."""
    body = {key: draw(value) for key, value in required.items()}
    for key, value in (optional or {}).items():
        if draw(st.booleans()):
            body[key] = draw(value)
    for _ in range(draw(MUTATIONS)):
        kind, keys = draw(MUTATION), sorted(body)
        if kind == "extra" or not keys:
            body[draw(st.sampled_from(ODD))] = draw(junk)
            continue
        key = keys[draw(INDEX) % len(keys)]
        if kind == "drop":
            del body[key]
        else:
            body[key] = draw(junk)
    return body


def wrapped(key: str, inner: st.SearchStrategy) -> st.SearchStrategy:
    return either(st.fixed_dictionaries({key: inner}), 9)


server_id = either(ref("server"), 8, st.one_of(
    st.builds(Ref, st.just("missing"), st.just(""), st.integers(0, 2**64)),
    st.sampled_from(ODD), st.text(max_size=8)))
names = either(st.one_of(st.sampled_from(["fuzz-vm", "ünïcode vm", "a" * 255, "x"]),
                         st.text("abcé-_. 0", min_size=1, max_size=12)), 8)
keys = st.one_of(st.sampled_from(["role", "a:b", "x y"]), st.sampled_from(ODD),
                 st.text("ab:/ ", max_size=6))
network_item = either(st.one_of(shaped({"uuid": ref("net")}), shaped({"port": ref("port")})),
                      8, st.one_of(shaped({}, {"uuid": junk, "port": junk, "fixed_ip": junk,
                                               "tag": junk}), junk))
create_body = wrapped("server", shaped(
    {"name": names, "imageRef": st.sampled_from(list(catalog.IMAGES)),
     "flavorRef": st.sampled_from(list(catalog.FLAVORS) + [1])},
    {"networks": st.one_of(st.just("none"), st.lists(network_item, max_size=2),
                           st.lists(network_item, min_size=1, max_size=1)),
     "metadata": st.dictionaries(keys, either(st.sampled_from(["v", "w" * 255])), max_size=3),
     "user_data": st.sampled_from(["aGVsbG8=", "#!/bin/sh", "YQ==\n", "", Huge()]),
     "key_name": either(st.just("key"))}))
update_body = wrapped("server", shaped({"name": names}))
action_body = st.one_of(
    st.just({"os-start": None}), st.just({"os-stop": None}),
    wrapped("reboot", shaped({"type": st.sampled_from(["HARD", "soft", "MEDIUM"])})),
    wrapped("os-getConsoleOutput", shaped({}, {"length": st.one_of(
        st.integers(-3, 10), st.sampled_from(["5", "-1", "abc", "inf", 1.5, "9" * 30]))})),
    st.dictionaries(st.sampled_from(ODD + ["os-start", "reboot", "createImage"]), junk,
                    max_size=3))
metadata_body = wrapped("metadata", st.dictionaries(
    keys, either(st.sampled_from(["v", "w" * 255])), max_size=4))
meta_body = wrapped("meta", st.dictionaries(
    st.sampled_from(["role", "k"]), either(st.sampled_from(["v", ""])), max_size=2))
interface_body = wrapped("interfaceAttachment", st.one_of(
    shaped({"net_id": ref("net")}), shaped({"port_id": ref("port")}),
    shaped({}, {"net_id": junk, "port_id": junk, "fixed_ips": junk})))
event_names = either(st.sampled_from(["network-vif-plugged", "network-vif-plugged",
                                      "network-changed", "network-vif-unplugged",
                                      "volume-extended", "power-update", "volume-reimaged"]), 9)
event_item = either(shaped({"name": event_names, "server_uuid": server_id},
                           {"status": either(st.sampled_from(["completed", "failed",
                                                              "in-progress"]), 8),
                            "tag": either(st.one_of(ref("port"), st.sampled_from(
                                ["t" * 255, "t" * 256, "POWER_ON"])), 8)}), 9)
events_body = wrapped("events", either(st.lists(event_item, min_size=1, max_size=4), 9))
group_body = wrapped("server_group", either(st.fixed_dictionaries({
    "name": either(st.sampled_from(["g", " g", "x" * 256, "a\u0000b", "a\nb"]), 8),
    "policies": either(st.lists(st.sampled_from(
        ["anti-affinity", "affinity", "soft-anti-affinity", "soft-affinity", "x"]),
        max_size=3), 8),
    "policy": either(st.sampled_from(["anti-affinity", "soft-affinity", "bogus"]), 8),
    "rules": either(st.fixed_dictionaries({"max_server_per_host": st.sampled_from(
        [0, 1, 2, -1, "3", 2**40, True, "\u00b2", "9" * 5000])}), 8)}), 9))
raw_body = st.sampled_from([Raw("{"), Raw("[" * 1000 + "]" * 1000), Raw("null"), Raw("[]"),
                            Raw('"s"'), Raw("\xff\xfe"), Raw('{"server": "\\ud800"}'),
                            Raw("big"), Raw('{"a": NaN}'), Raw("1" * 5000)])
any_body = st.one_of(st.none(), junk, raw_body, create_body, action_body)

query_keys = ["limit", "marker", "sort_key", "sort_dir", "changes-since", "name", "status",
              "flavor", "image", "all_tenants", "deleted", "ip", "bogus"]
query_values = st.one_of(st.sampled_from(["1", "0", "-1", "abc", "", "display_name", "asc",
                                          "desc", "ACTIVE", "1", "2026-01-01T00:00:00Z",
                                          "^fuzz", "(a+)+$", "(a|aa)+$", "x" * 300]),
                         st.sampled_from(ODD), st.text(max_size=6), ref("server"))
queries = st.lists(st.tuples(st.sampled_from(query_keys), query_values), max_size=4)

# (path template, body strategy by method); "{id}" is a server, "{port}" a port
ROUTES: list[tuple[str, dict[str, st.SearchStrategy]]] = [
    ("/v2.1/servers", {"POST": create_body}),
    ("/v2.1/servers/{id}/action", {"POST": action_body}),
    ("/v2.1/servers/{id}", {"PUT": update_body}),
    ("/v2.1/servers/{id}/os-interface", {"POST": interface_body}),
    ("/v2.1/servers/{id}/metadata", {"PUT": metadata_body, "POST": metadata_body}),
    ("/v2.1/servers/{id}/metadata/{key}", {"PUT": meta_body}),
    ("/v2.1/servers/{id}/os-interface/{port}", {}),
    ("/v2.1/os-server-external-events", {"POST": events_body}),
    ("/v2.1/os-server-groups", {"POST": group_body}),
    ("/v2.1/os-server-groups/{group}", {}),
    ("/v2.1/servers/{id}/os-instance-actions", {}),
    ("/v2.1/servers/{id}/os-instance-actions/{action}", {}),
    ("/v2.1/servers/detail", {}), ("/v2.1/servers/{id}/ips", {}),
    ("/v2.1/flavors", {}), ("/v2.1/flavors/detail", {}), ("/v2.1/flavors/{flavor}", {}),
    ("/v2.1/images", {}), ("/v2.1/images/detail", {}), ("/v2.1/images/{image}", {}),
    ("/v2.1/limits", {}), ("/v2.1/os-keypairs", {}), ("/v2.1/nowhere", {}),
    ("/v2.1/os-astara-dead-letters", {}), ("/v2.1/os-astara-dead-letters/{key}", {}),
    ("/v2.1/os-astara-dead-letters/{key}/action",
     {"POST": st.sampled_from([{"retry": None}, {"retry": 1}, {}, [], None])}),
    ("/", {}), ("/v2.1", {}), ("/v2.1/", {}),
]
ROUTE_METHODS = {"/v2.1/servers": ["GET", "POST"], "/v2.1/servers/{id}": ["GET", "PUT", "DELETE"],
                 "/v2.1/servers/{id}/action": ["POST"],
                 "/v2.1/servers/{id}/metadata": ["GET", "PUT", "POST"],
                 "/v2.1/servers/{id}/metadata/{key}": ["GET", "PUT", "DELETE"],
                 "/v2.1/servers/{id}/os-interface": ["GET", "POST"],
                 "/v2.1/servers/{id}/os-interface/{port}": ["GET", "DELETE"],
                 "/v2.1/os-server-external-events": ["POST"],
                 "/v2.1/os-server-groups": ["GET", "POST"],
                 "/v2.1/os-server-groups/{group}": ["GET", "DELETE"],
                 "/v2.1/os-astara-dead-letters/{key}/action": ["POST"]}


# strategies built once (building them inside the composite doubled the cost of a draw)
METHOD_OF = {path: either(st.sampled_from(ROUTE_METHODS.get(path, ["GET"])), 9,
                          st.sampled_from(METHODS)) for path, _ in ROUTES}
BODY_OF = {(path, method): either(body, 8, any_body)
           for path, bodies in ROUTES for method, body in bodies.items()}
NO_BODY = either(st.none(), 8, any_body)
PARTS = {"{id}": server_id, "{port}": st.one_of(ref("port"), st.sampled_from(ODD)),
         "{action}": st.sampled_from(["req-nope", "..", "%00", "x" * 300]),
         "{key}": st.sampled_from(["role", "k", "nope", "..", "%00", "x" * 300]),
         "{flavor}": st.one_of(st.sampled_from(list(catalog.FLAVORS)), st.sampled_from(ODD)),
         "{group}": st.sampled_from(["x" * 300, "..", "%00",
                                     "33333333-3333-4333-8333-333333333333"]),
         "{image}": st.one_of(st.sampled_from(list(catalog.IMAGES)), st.sampled_from(ODD))}
WHOS = either(st.sampled_from(WHO), 9, st.sampled_from(["nobody", "long"]))
VERSIONS = st.sampled_from([None, None, None, "2.1", "2.37", "2.37", "2.47", "latest",
                            "2.100", "2.36", "2.999", "abc"])
PATHS = either(st.sampled_from([path for path, _ in ROUTES
                                if "servers" in path or "external-events" in path]), 8,
               st.sampled_from([path for path, _ in ROUTES]))


@st.composite
def requests(draw) -> dict:
    path = draw(PATHS)
    method = draw(METHOD_OF[path])
    req = {"who": draw(WHOS), "method": method, "path": path,
           "body": draw(BODY_OF.get((path, method), NO_BODY)),
           "query": draw(queries) if method == "GET" and path.startswith("/v2.1/servers")
           else [],
           "version": draw(VERSIONS)}
    for part, strategy in PARTS.items():
        req[part] = draw(strategy) if part in path else ""
    return req


# -- sending ----------------------------------------------------------------------------
def segment(text: str) -> str:
    # cut: a request line over h11's 16 KiB is refused by the HTTP server, before the API
    return quote(text[:1000].encode("utf-8", "surrogatepass"), safe="")


def resolved(world: World, value):
    if isinstance(value, Ref):
        return world.resolve(value)
    if isinstance(value, Huge):
        return "x" * 70000
    if isinstance(value, dict):
        return {(resolved(world, k) if isinstance(k, Ref) else k): resolved(world, v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [resolved(world, v) for v in value]
    return value


def encode(world: World, body) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, Raw):
        if body.text == "big":
            return json.dumps({"server": {"name": "big", "pad": "x" * 120000}}).encode()
        return body.text.encode("utf-8", "surrogatepass")
    return json.dumps(resolved(world, body)).encode()  # ASCII: surrogates as \ud800


def headers_for(world: World, who: str, version: str | None) -> dict[str, str]:
    out = {"Content-Type": "application/json"}
    if who == "long":
        out["X-Project-Id"] = "p" * 300
    elif who != "nobody":
        out["X-Project-Id"] = world.projects[who]
        out["X-Roles"] = "admin,member,reader" if who == "admin" else "member,reader"
    if version:
        out["OpenStack-API-Version"] = f"compute {version}"
    return out


def send(world: World, c: httpx.Client, req: dict) -> None:
    path = req["path"]
    for part in PARTS:
        value = req[part]
        path = path.replace(part, segment(world.resolve(value) if isinstance(value, Ref)
                                          else value))
    if req["query"]:
        pairs = [(k, world.resolve(v) if isinstance(v, Ref) else v) for k, v in req["query"]]
        path += "?" + "&".join(f"{segment(k)}={segment(v)}" for k, v in pairs)
    world.sent += 1
    try:
        resp = c.request(req["method"], path, content=encode(world, req["body"]),
                         headers=headers_for(world, req["who"], req["version"]))
    except httpx.TransportError as exc:  # a reset or dropped connection is a failure too
        world.failures.append(f"{req['method']} {path[:200]} as {req['who']}: {exc!r}")
        world.statuses[0] = world.statuses.get(0, 0) + 1
        return
    world.statuses[resp.status_code] = world.statuses.get(resp.status_code, 0) + 1
    problem = judge(req["method"], resp)
    if problem:
        world.failures.append(f"{req['method']} {path[:200]} as {req['who']} "
                              f"(version {req['version']}, body {str(req['body'])[:200]}) "
                              f"-> {resp.status_code} {resp.text[:200]}: {problem}")
    learn(world, req, resp)


def judge(method: str, resp: httpx.Response) -> str | None:
    if resp.status_code >= 500:
        return "a 5xx"
    if resp.status_code < 400 or method == "HEAD":
        return None
    try:
        body = resp.json()
    except ValueError:
        return "a 4xx without a JSON body"
    name = FAULTS.get(resp.status_code)
    if (not isinstance(body, dict) or list(body) != [name]
            or body[name].get("code") != resp.status_code
            or not isinstance(body[name].get("message"), str)):
        return "not a Nova fault body"
    return None


def learn(world: World, req: dict, resp: httpx.Response) -> None:
    who = req["who"]
    if who not in WHO or resp.status_code not in (200, 202):
        return
    if req["method"] == "POST" and req["path"] == "/v2.1/servers":
        world.servers[who].append(resp.json()["server"]["id"])
    elif req["method"] == "POST" and req["path"].endswith("/os-interface"):
        world.ports[who].append(resp.json()["interfaceAttachment"]["port_id"])


# -- the world and its consistency ------------------------------------------------------
def make_world(network_api, compute) -> World:
    world = World({w: f"fuzz-{w}-{uuid.uuid4().hex[:12]}" for w in WHO})
    for who in ("a", "b"):
        hdr = {"X-Project-Id": world.projects[who], "X-Roles": "member,reader"}
        with httpx.Client(base_url=f"{network_api.url}/v2.0", headers=hdr) as net:
            network = net.post("/networks", json={"network": {"name": f"fuzz-{who}"}})
            net_id = network.json()["network"]["id"]
            net.post("/subnets", json={"subnet": {"network_id": net_id, "ip_version": 4,
                                                  "cidr": f"10.{77 if who == 'a' else 78}"
                                                          ".0.0/24"}}).raise_for_status()
            world.nets[who].append(net_id)
            for _ in range(2):
                port = net.post("/ports", json={"port": {"network_id": net_id}})
                world.ports[who].append(port.json()["port"]["id"])
        with httpx.Client(base_url=compute.api.url, headers=headers_for(world, who, "2.37")) as c:
            for networks in ([{"uuid": net_id}], "none"):
                resp = c.post("/v2.1/servers", json={"server": {
                    "name": f"fuzz-{who}", "imageRef": catalog.TENANT_IMAGE, "flavorRef": "1",
                    "networks": networks}})
                assert resp.status_code == 202, resp.text
                world.servers[who].append(resp.json()["server"]["id"])
    return world


def quiet(compute, projects: list[str]) -> bool:
    with compute.db.read() as s:
        ids = select(Instance.id).where(Instance.project_id.in_(projects))
        busy = s.scalar(select(func.count()).select_from(Job).where(
            Job.instance_id.in_(ids), Job.status.in_([jobs.PENDING, jobs.RUNNING])))
        deleting = s.scalar(select(func.count()).select_from(Instance).where(
            Instance.project_id.in_(projects), Instance.deleted.is_(False),
            Instance.task_state == "deleting"))
    return busy == 0 and deleting == 0


def check_consistency(compute, network_api, projects: list[str]) -> list[str]:
    """What is wrong in the database (and the network service) for these projects."""
    wrong: list[str] = []
    with compute.db.read() as s:
        rows = list(s.scalars(select(Instance).where(Instance.project_id.in_(projects))))
        live = {r.id: r for r in rows if not r.deleted}
        for project in projects:
            used = s.scalar(select(QuotaUsage.instances).where(
                QuotaUsage.project_id == project)) or 0
            count = sum(1 for r in live.values() if r.project_id == project)
            if used != count:
                wrong.append(f"quota of {project}: usage {used}, live instances {count}")
        for r in rows:
            if not r.project_id or r.flavor_id not in catalog.FLAVORS \
                    or r.image_id not in catalog.IMAGES:
                wrong.append(f"instance {r.id} without a project, flavor or image")
            if not 1 <= len(r.name) <= 255 or r.name != r.name.strip():
                wrong.append(f"instance {r.id} has the name {r.name[:50]!r}")
            if r.deleted != (r.vm_state == "deleted"):
                wrong.append(f"instance {r.id} deleted={r.deleted} in vm_state {r.vm_state}")
            for key, value in (r.metadata_ or {}).items():
                if not isinstance(value, str) or len(key) > 255 or len(value) > 255:
                    wrong.append(f"instance {r.id} metadata {key[:40]!r} out of bounds")
        orphans = s.scalar(select(func.count()).select_from(Job).where(
            Job.instance_id.not_in(select(Instance.id))))
        if orphans:
            wrong.append(f"{orphans} job(s) for a missing instance")
        recorded = {p["port_id"]: iid for iid, r in live.items() for p in r.ports or []}
    admin = {"X-Project-Id": "fuzz-checker", "X-Roles": "admin,member,reader"}
    with httpx.Client(base_url=f"{network_api.url}/v2.0", headers=admin) as net:
        for project in projects:
            for port in net.get("/ports", params={"project_id": project}).json()["ports"]:
                owner = port.get("device_owner") or ""
                if not owner.startswith("compute:"):
                    continue
                if port["device_id"] not in live:
                    wrong.append(f"port {port['id']} bound to gone instance "
                                 f"{port['device_id']}")
                elif recorded.get(port["id"]) != port["device_id"]:
                    wrong.append(f"port {port['id']} of {port['device_id']} not recorded")
            known = {p["id"] for p in net.get("/ports").json()["ports"]}
        for port_id, iid in recorded.items():
            if port_id not in known:
                wrong.append(f"instance {iid} records port {port_id} the network lacks")
    return wrong


# -- the test ---------------------------------------------------------------------------
@pytest.fixture
def world(network_api, compute):
    return make_world(network_api, compute)


def test_fuzz_compute_api(world, compute, network_api, capsys):
    with capsys.disabled():
        print(f"\ncompute API fuzz: seed {SEED} (ASTARA_FUZZ_SEED={SEED} replays it), "
              f"{REQUESTS} requests")
    with compute.db.read() as s:
        letters_before = s.scalar(select(func.count()).select_from(DeadLetter))
    started = time.monotonic()
    client = httpx.Client(base_url=compute.api.url, timeout=30)

    @seed(SEED)
    @settings(max_examples=-(-REQUESTS // BATCH), deadline=None, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(st.lists(requests(), min_size=BATCH, max_size=BATCH))
    def run(batch):
        for req in batch:
            send(world, client, req)

    try:
        run()
    finally:
        client.close()
    took = time.monotonic() - started
    with capsys.disabled():
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(world.statuses.items()))
        fives = sum(n for code, n in world.statuses.items() if code >= 500 or code == 0)
        print(f"compute API fuzz: {world.sent} requests in {took:.1f} s ({codes}; 0 is a "
              f"dropped connection); {fives} 5xx or dropped, {len(world.failures)} bad answers")
    assert world.sent >= REQUESTS
    assert not world.failures, "\n".join(world.failures[:30])

    # still serving, and sound once the agent and dispatcher have caught up
    assert httpx.get(compute.api.url + "/").status_code == 200
    with httpx.Client(base_url=compute.api.url,
                      headers=headers_for(world, "a", None)) as c:
        assert c.get("/v2.1/servers/detail").status_code == 200
    projects = list(world.projects.values())
    wait_for(lambda: quiet(compute, projects), timeout=60, what="jobs to settle")
    assert check_consistency(compute, network_api, projects) == []
    with compute.db.read() as s:
        assert s.scalar(select(func.count()).select_from(DeadLetter)) == letters_before


def test_consistency_checker_sees_what_is_wrong(world, compute, network_api):
    """The checker is not vacuous: a wrong quota, an orphan job and a leaked port show."""
    projects = list(world.projects.values())
    wait_for(lambda: quiet(compute, projects), timeout=60, what="jobs to settle")
    assert check_consistency(compute, network_api, projects) == []
    gone = str(uuid.uuid4())
    hdr = {"X-Project-Id": world.projects["a"], "X-Roles": "admin,member,reader"}
    with httpx.Client(base_url=f"{network_api.url}/v2.0", headers=hdr) as net:
        net.put(f"/ports/{world.ports['a'][0]}", json={"port": {
            "device_id": gone, "device_owner": "compute:nova"}}).raise_for_status()
    with compute.db.write() as s:
        s.get(QuotaUsage, world.projects["b"]).instances += 1
        s.add(Job(instance_id=gone, host="no-such-host", op="create", status="done",
                  payload={}, created_at=jobs.now(), updated_at=jobs.now()))
    try:
        wrong = check_consistency(compute, network_api, projects)
        assert any(w.startswith(f"quota of {world.projects['b']}") for w in wrong)
        assert "1 job(s) for a missing instance" in wrong
        assert any(w.startswith(f"port {world.ports['a'][0]} bound to gone") for w in wrong)
    finally:
        with compute.db.write() as s:
            s.get(QuotaUsage, world.projects["b"]).instances -= 1
            s.execute(Job.__table__.delete().where(Job.instance_id == gone))
