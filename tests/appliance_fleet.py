"""Fake appliances over HTTP, for real orchestrator processes: one server on every
loopback address (``0.0.0.0``), answering as the appliance whose management address a
connection arrived on (the management subnet is in 127.0.0.0/8).

The compute agent's ``FleetBackend`` (the in-tree ``FakeBackend``) tells the fleet
which instance holds which address. Each appliance answers only its own secret
(``wire.auth``), reports the digest of the config last pushed to it
(``GET /v1/status/``), and fences pushes by lease epoch like the real agent
(``wire.tenure``), also an adopting member's ``PUT /v1/system/tenure/``. Pushes are
counted per address.
"""

from __future__ import annotations

import collections
import threading

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from astara.compute_service.agent.backend import FakeBackend, InstanceSpec
from astara.wire import auth, parse_config, tenure
from astara.wire.appliance_status import ApplianceStatus


class Fleet:
    def __init__(self, key: bytes):
        self.key = key
        self.lock = threading.Lock()
        self.instance_of: dict[str, str] = {}  # management address -> instance id
        self.names: dict[str, str] = {}  # instance id -> its name (the resource's in it)
        self.applied: dict[str, str] = {}  # address -> digest
        self.tenures: dict[str, tenure.Tenure] = {}  # instance id -> highest accepted
        self.pushes: collections.Counter[str] = collections.Counter()
        self.fenced = 0
        self.told = 0  # epochs recorded without a push (adoptions)

    def plugged(self, spec: InstanceSpec) -> None:
        with self.lock:
            self.names[spec.id] = spec.name
            for port in spec.ports:
                for ip in port.get("fixed_ips", []):
                    self.instance_of[ip["ip_address"]] = spec.id

    def unplugged(self, spec: InstanceSpec) -> None:
        with self.lock:
            for address in [a for a, i in self.instance_of.items() if i == spec.id]:
                del self.instance_of[address]
                self.applied.pop(address, None)

    def total_pushes(self) -> int:
        with self.lock:
            return sum(self.pushes.values())

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        address = scope["server"][0]
        with self.lock:
            instance = self.instance_of.get(address)
        if instance is None:
            return await Response(status_code=503)(scope, receive, send)
        secret = auth.appliance_secret(self.key, instance)
        if not auth.is_bearer(request.headers.get(auth.HEADER), secret):
            return await JSONResponse({"error": "unauthorized"}, 401)(scope, receive, send)
        path, method = scope["path"], scope["method"]
        if (method, path) == ("GET", "/v1/status/"):
            with self.lock:
                digest = self.applied.get(address)
            body = ApplianceStatus(config_digest=digest).model_dump_json()
            answer = Response(body, media_type="application/json")
        elif (method, path) == ("PUT", "/v1/system/config/"):
            answer = self._put(address, instance, request, await request.body())
        elif (method, path) == ("PUT", tenure.TENURE_PATH):
            answer = self._tenure(instance, request)
        else:
            answer = JSONResponse({"error": "not found"}, 404)
        await answer(scope, receive, send)

    def _admit(self, instance: str, pushed: tenure.Tenure | None) -> Response | None:
        why = tenure.refusal(self.tenures.get(instance), pushed)
        if why is not None:
            self.fenced += 1
            return JSONResponse({"error": why,
                                 "accepted_epoch": self.tenures[instance].epoch}, 409)
        if pushed is not None and (instance not in self.tenures
                                   or pushed.epoch > self.tenures[instance].epoch):
            self.tenures[instance] = pushed
        return None

    def _tenure(self, instance: str, request: Request) -> Response:
        told = tenure.parse(request.headers.get(tenure.EPOCH_HEADER),
                            request.headers.get(tenure.OWNER_HEADER))
        with self.lock:
            refused = self._admit(instance, told)
            self.told += 1
        return refused or JSONResponse({"epoch": self.tenures[instance].epoch})

    def _put(self, address: str, instance: str, request: Request, body: bytes) -> Response:
        import json

        config = parse_config(json.loads(body))
        pushed = tenure.parse(request.headers.get(tenure.EPOCH_HEADER),
                              request.headers.get(tenure.OWNER_HEADER))
        with self.lock:
            refused = self._admit(instance, pushed)
            if refused is not None:
                return refused
            self.pushes[address] += 1
            self.applied[address] = config.digest()
        return JSONResponse({"changed": True, "digest": config.digest()})


class FleetBackend(FakeBackend):
    """The compute agent's fake hypervisor, telling the fleet where appliances are."""

    def __init__(self, fleet: Fleet):
        super().__init__()
        self.fleet = fleet

    def create(self, spec: InstanceSpec) -> str:
        out = super().create(spec)
        self.fleet.plugged(spec)
        return out

    def delete(self, spec: InstanceSpec) -> None:
        super().delete(spec)
        self.fleet.unplugged(spec)
