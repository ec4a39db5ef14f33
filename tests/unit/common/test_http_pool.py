"""Our clients drop an idle connection before our servers close it (no reset race)."""

from __future__ import annotations

import uvicorn

from astara.common import http_pool
from astara.compute_service.api.network import HttpNetwork
from astara.loadbalancer_service.network import HttpNetwork as LbNetwork
from astara.orchestrator.clients.appliance import HttpApplianceAPI
from astara.orchestrator.clients.compute import HttpComputeAPI


def _expiry(client) -> float:
    return client._transport._pool._keepalive_expiry  # httpcore's pool


def _sizes(client) -> tuple[int, int]:
    pool = client._transport._pool
    return pool._max_connections, pool._max_keepalive_connections


def test_clients_give_up_idle_connections_before_uvicorn_closes_them():
    server_keeps = uvicorn.Config(app=None).timeout_keep_alive
    assert server_keeps > http_pool.KEEPALIVE_EXPIRY
    clients = [HttpComputeAPI("http://127.0.0.1:1/", {}, "img", "1")._http,
               HttpApplianceAPI(b"k")._http, HttpNetwork("http://127.0.0.1:1/")._api._client,
               LbNetwork("http://127.0.0.1:1/")._client]
    try:
        assert [_expiry(c) for c in clients] == [http_pool.KEEPALIVE_EXPIRY] * 4
        # bounded as httpx's defaults bound them (a Limits with one field leaves the
        # others unbounded)
        assert [_sizes(c) for c in clients] == [(100, 20)] * 4
    finally:
        for c in clients:
            c.close()
