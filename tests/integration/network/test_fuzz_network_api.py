"""Property-based fuzzing of the network API: no 5xx, Neutron error bodies, a sane database.

A real API on uvicorn over its own fresh database (SQLite, or PostgreSQL with
``ASTARA_TEST_DATABASE_URL``). Two member projects and an admin send batches of
generated requests (``fuzz_requests``) to every route and method; ids created
along the way are reused, so requests reach the deep rules. Every answer must be
below 500 and every 4xx a ``{"NeutronError": {...}}`` JSON body; afterwards the
service still answers and ``consistency.problems`` finds nothing. The seed is
printed; ``ASTARA_FUZZ_SEED=<n>`` replays it, ``ASTARA_FUZZ_REQUESTS`` sets the total.
"""

from __future__ import annotations

import ipaddress
import json
import math
import multiprocessing
import os
import queue
import secrets
import threading
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from astara.db.engine import Database
from astara.network_service.app import create_app, uvicorn_options
from tests.integration.conftest import make_settings
from tests.integration.network import consistency
from tests.integration.network.fuzz_requests import (
    ACTORS,
    CIDR_VERSION,
    KINDS,
    RAW_BODIES,
    SINGULAR,
    CidrNear,
    IpIn,
    Raw,
    Ref,
    Request,
    requests,
)
from tests.support import Server, free_port, wait_for

TOTAL = int(os.environ.get("ASTARA_FUZZ_REQUESTS", "10000"))
BATCH = 50
JUNK_IDS = ["x", "", "not-a-uuid", "a" * 40, "00000000-0000-0000-0000-000000000000", " ", "é"]


class Pool:
    """Ids seen in answers, per kind and project, for requests to refer to."""

    def __init__(self) -> None:
        self.ids: dict[str, dict[str, list[str]]] = {k: {a: [] for a in ACTORS} for k in KINDS}
        self.external: list[str] = []
        self.cidr: dict[str, str] = {}  # subnet id -> cidr
        self.subnet_net: dict[str, str] = {}

    def pick(self, ref: Ref, actor: str) -> str:
        if ref.owner == "missing":
            return str(uuid.UUID(int=ref.index + 1, version=4))
        if ref.owner == "junk":
            return JUNK_IDS[ref.index % len(JUNK_IDS)]
        me = "a" if actor == "anon" else actor
        owner = {"own": me, "other": "b" if me == "a" else "a", "admin": "admin",
                 "ext": "admin"}[ref.owner]
        ids = self.ids[ref.kind][owner]
        if ref.owner == "ext" and ref.kind == "networks":
            ids = self.external
        elif ref.owner == "ext" and ref.kind == "subnets":
            ids = [s for s, n in self.subnet_net.items() if n in self.external]
        if not ids:
            return str(uuid.UUID(int=ref.index + 100, version=4))
        return ids[-1 - ref.index % len(ids)]

    def learn(self, req: Request, kind: str, status: int, body: Any) -> None:
        owner = "a" if req.actor == "anon" else req.actor
        if req.method == "POST" and status == 201 and isinstance(body, dict):
            found = body.get(kind) or [body.get(SINGULAR[kind])]
            for item in found:
                self.ids[kind][owner].append(item["id"])
                if kind == "networks" and item.get("router:external"):
                    self.external.append(item["id"])
                if kind == "subnets":
                    self.cidr[item["id"]] = item["cidr"]
                    self.subnet_net[item["id"]] = item["network_id"]
        elif req.method == "DELETE" and status == 204:
            gone = req.path[-1]
            for per_owner in self.ids[kind].values():
                if gone in per_owner:
                    per_owner.remove(gone)
        elif req.path[-1:] == ["add_router_interface"] and status == 200:
            self.ids["ports"][owner].append(body["port_id"])


def _address_in(pool: Pool, ref: IpIn, actor: str) -> str:
    cidr = pool.cidr.get(pool.pick(ref.subnet, actor), "10.0.0.0/24")
    net = ipaddress.ip_network(cidr)
    offset = ref.offset % net.num_addresses
    address = str(net.network_address + offset)
    return f"{address}%{ref.scope}" if ref.scope else address


def _cidr_near(pool: Pool, ref: CidrNear, actor: str) -> str:
    net = ipaddress.ip_network(pool.cidr.get(pool.pick(ref.subnet, actor), "10.0.0.0/24"))
    prefix = min(max(net.prefixlen + ref.prefix_delta, 0), net.max_prefixlen)
    return str(ipaddress.ip_network(f"{net.network_address}/{prefix}", strict=False))


def resolve(pool: Pool, value: Any, actor: str) -> Any:
    if isinstance(value, Ref):
        return pool.pick(value, actor)
    if isinstance(value, IpIn):
        return _address_in(pool, value, actor)
    if isinstance(value, CidrNear):
        return _cidr_near(pool, value, actor)
    if value == Raw("deep"):
        deep: Any = "x"
        for _ in range(50):
            deep = [deep]
        return deep
    if isinstance(value, list):
        return [resolve(pool, v, actor) for v in value]
    if isinstance(value, dict):
        out = {k: resolve(pool, v, actor) for k, v in value.items()}
        if out.get("ip_version") == CIDR_VERSION:
            try:
                out["ip_version"] = ipaddress.ip_network(str(out["cidr"]), strict=False).version
            except ValueError:
                out["ip_version"] = 4
        return out
    return value


def _quote(value: Any) -> str:
    return quote(str(value).encode("utf-8", "surrogatepass"), safe="")


def render(pool: Pool, req: Request, n: int) -> tuple[str, bytes]:
    """The URL (path and query) and body bytes of ``req`` against the current pool."""
    parts = [resolve(pool, p, req.actor) for p in req.path]
    if isinstance(req.path[0], Raw):
        path = req.path[0].name
    else:
        path = "/v2.0/" + "/".join(_quote(p) for p in parts)
    query = [f"{_quote(k)}={_quote(resolve(pool, v, req.actor))}" for k, v in req.query]
    if req.raw_query:
        query.append(req.raw_query)
    url = path + ("?" + "&".join(query) if query else "")
    if isinstance(req.body, Raw) and req.body.name in RAW_BODIES:
        return url, RAW_BODIES[req.body.name]
    if req.body is None:
        return url, b""
    text = json.dumps(resolve(pool, req.body, req.actor), ensure_ascii=n % 2 == 0)
    return url, text.encode("utf-8", "surrogatepass")


def check(response: httpx.Response) -> str | None:
    """What is wrong with an answer, or None."""
    status = response.status_code
    if status >= 500:
        return f"status {status}: {response.text[:500]}"
    if status < 400:
        if 200 <= status < 300 and status != 204 and response.request.method != "HEAD":
            try:
                response.json()
            except ValueError:
                return f"status {status} with a body that is not JSON: {response.text[:200]}"
        return None
    if not response.headers.get("content-type", "").startswith("application/json"):
        return f"status {status} with content-type {response.headers.get('content-type')}"
    if response.request.method == "HEAD":
        return None
    try:
        body = response.json()
    except ValueError:
        return f"status {status} with a body that is not JSON: {response.text[:200]}"
    err = body.get("NeutronError") if isinstance(body, dict) else None
    if set(body) != {"NeutronError"} or not isinstance(err, dict) or set(err) != {
            "type", "message", "detail"} or not all(isinstance(err[k], str) for k in err):
        return f"status {status} not in NeutronError format: {response.text[:300]}"
    if len(response.content) > 4096:
        return f"status {status} error body of {len(response.content)} bytes"
    return None


def identities(project_a: str, project_b: str) -> dict[str, dict[str, str]]:
    def member(p: str) -> dict[str, str]:
        return {"X-Project-Id": p, "X-User-Id": f"user-{p[:6]}", "X-Roles": "member,reader"}
    return {"a": member(project_a), "b": member(project_b), "anon": {},
            "admin": {"X-Project-Id": uuid.uuid4().hex, "X-Roles": "admin,member"}}


def _serve(cfg) -> None:
    Server(create_app(cfg), cfg.network.bind_port, **uvicorn_options()).run()


@pytest.fixture(scope="module")
def fuzz_api(tmp_path_factory):
    """The API in a process of its own: the generator and the server each get a core
    instead of taking turns on one interpreter lock."""
    cfg = make_settings(tmp_path_factory.mktemp("fuzz-state"), free_port())
    url = f"http://127.0.0.1:{cfg.network.bind_port}"
    proc = multiprocessing.get_context("spawn").Process(target=_serve, args=(cfg,))
    proc.start()
    try:
        wait_for(lambda: _answers(url) or not proc.is_alive(), what="the fuzzed network API")
        assert proc.is_alive(), "the network API exited at start"
        db = Database(cfg.database.url)
        yield url, db
        db.dispose()
    finally:
        proc.terminate()
        proc.join(10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/").status_code == 200
    except httpx.TransportError:
        return False


def _baseline(client: httpx.Client, who: dict, pool: Pool) -> None:
    """One usable topology per project, so the first generated requests reach deep code."""
    def post(actor: str, kind: str, body: dict) -> dict:
        r = client.post(f"/v2.0/{kind}", json={SINGULAR[kind]: body}, headers=who[actor])
        assert r.status_code == 201, r.text
        item = r.json()[SINGULAR[kind]]
        pool.learn(Request(actor, "POST", [kind]), kind, 201, r.json())
        return item

    ext = post("admin", "networks", {"name": "public", "router:external": True})
    post("admin", "subnets", {"network_id": ext["id"], "cidr": "172.24.4.0/24",
                              "ip_version": 4})
    for n, actor in enumerate(("a", "b")):
        net = post(actor, "networks", {"name": f"net-{actor}"})
        v4 = post(actor, "subnets", {"network_id": net["id"], "cidr": f"10.{n}.0.0/24",
                                     "ip_version": 4})
        post(actor, "subnets", {"network_id": net["id"], "cidr": f"fd0{n}::/64", "ip_version": 6,
                                "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"})
        router = post(actor, "routers", {"name": f"r-{actor}",
                                         "external_gateway_info": {"network_id": ext["id"]}})
        r = client.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                       json={"subnet_id": v4["id"]}, headers=who[actor])
        assert r.status_code == 200, r.text
        port = post(actor, "ports", {"network_id": net["id"]})
        post(actor, "floatingips", {"floating_network_id": ext["id"], "port_id": port["id"]})


class Sender(threading.Thread):
    """Sends the batches in order, in a thread, while hypothesis draws the next ones.

    Ids and addresses are resolved when a request is sent, against the answers to the
    requests before it, so a seed always sends the same requests in the same order.
    """

    def __init__(self, client: httpx.Client, who: dict, pool: Pool, run_seed: int):
        super().__init__(daemon=True)
        self.client, self.who, self.pool, self.seed = client, who, pool, run_seed
        self.batches: queue.Queue = queue.Queue(maxsize=4)
        self.failure: str | None = None
        self.count = 0
        self.statuses: Counter = Counter()

    def run(self) -> None:
        while (reqs := self.batches.get()) is not None:
            for req in reqs:
                if self.failure is not None:
                    break
                try:
                    self.send(req)
                except Exception as exc:  # a reset connection, a timeout: a failure too
                    self.failure = f"seed {self.seed}, request {self.count}: " \
                                   f"{req.describe()}: {exc!r}"

    def send(self, req: Request) -> None:
        url, body = render(self.pool, req, self.count)
        headers = {**self.who[req.actor], **req.headers}
        if body:
            headers.setdefault("Content-Type", "application/json")
        raw_headers = {k: v.encode("utf-8") for k, v in headers.items()}  # bytes, as sent
        response = self.client.request(req.method, url, content=body, headers=raw_headers)
        self.count += 1
        self.statuses[response.status_code] += 1
        problem = check(response)
        if problem:
            self.failure = (f"seed {self.seed}, request {self.count - 1}: {req.method} "
                            f"{url[:300]} ({req.describe()}): {problem}")
            return
        kind = req.path[0] if req.path[0] in KINDS else None
        if kind and response.status_code < 300 and not isinstance(req.body, Raw):
            self.pool.learn(req, kind, response.status_code,
                            response.json() if response.content else None)

    def finish(self) -> None:
        self.batches.put(None)
        self.join()


def test_fuzz_network_api(fuzz_api, capsys):
    url, db = fuzz_api
    run_seed = int(os.environ.get("ASTARA_FUZZ_SEED") or secrets.randbits(32))
    who = identities(uuid.uuid4().hex, uuid.uuid4().hex)
    pool = Pool()
    started = time.monotonic()
    client = httpx.Client(base_url=url, timeout=30)
    _baseline(client, who, pool)
    sender = Sender(client, who, pool, run_seed)
    sender.start()

    @seed(run_seed)
    @settings(max_examples=math.ceil(TOTAL / BATCH), deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate],  # the server's state cannot be shrunk
              suppress_health_check=list(HealthCheck), derandomize=False)
    @given(st.lists(requests(), min_size=BATCH, max_size=BATCH))
    def batch(reqs: list[Request]) -> None:
        # A failure is reported with the request that failed (the batch at hand is later).
        assert sender.failure is None, sender.failure
        sender.batches.put(reqs)

    with capsys.disabled():
        print(f"\nnetwork API fuzz: seed {run_seed} (replay: ASTARA_FUZZ_SEED={run_seed})")
    try:
        batch()
    finally:
        sender.finish()
        elapsed = time.monotonic() - started
        with capsys.disabled():
            print(f"network API fuzz: {sender.count} requests in {elapsed:.1f} s, "
                  f"seed {run_seed}, statuses {dict(sorted(sender.statuses.items()))}")
        client.close()
    assert sender.failure is None, sender.failure
    assert sender.count >= TOTAL
    with httpx.Client(base_url=url, headers=who["a"]) as c:
        assert c.get("/v2.0/networks").status_code == 200  # still up
    with db.read() as session:
        assert consistency.problems(session) == []
