"""``astara-ctl browse`` and ``poll --wait`` against a running orchestrator (its RPC API
over TCP, a real network API behind it): the router created shows in the table with
its tenant and why it cannot proceed (no compute service runs here), debug and manage
keys reach it, and ``poll --wait`` sees every resource looked at again."""

from __future__ import annotations

import asyncio
import json

from tests.integration.network.helpers import name
from tests.support import wait_for
from textual.widgets import DataTable

from astara.cli.browse_api import RpcOrchestratorAPI
from astara.cli.browse_app import BrowseApp


def test_browse_shows_a_new_router_and_its_keys_reach_the_orchestrator(orchestrator, demo):
    orch = orchestrator
    router = demo.sdk.network.create_router(name=name("browse"))
    wait_for(lambda: (r := orch.get(f"/routers/{router.id}")).status_code == 200
             and r.json()["router"]["steps"])
    api = RpcOrchestratorAPI(orch.url, orch.token)

    async def main() -> tuple[list[str], list[bool]]:
        app = BrowseApp(api, interval=0)
        debug = []
        async with app.run_test(size=(200, 50)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.press("slash", *router.id, "enter")
            await pilot.pause()
            row = [str(c) for c in app.query_one("#table", DataTable).get_row(router.id)]
            for key in ("d", "m"):
                await pilot.press(key, "y")
                for _ in range(3):
                    await app.workers.wait_for_complete()
                    await pilot.pause()
                debug.append(router.id in orch.get("/debug/").json()["routers"])
        return row, debug

    try:
        row, debug = asyncio.run(main())
    finally:
        api.close()
    assert row[:3] == ["router", router.id, demo.project]
    assert "compute API unreachable" in row[6]
    assert debug == [True, False]  # d: debug mode on; m: managed again


def test_poll_wait_follows_until_every_router_was_looked_at(orchestrator, demo):
    orch = orchestrator
    router = demo.sdk.network.create_router(name=name("poll"))
    wait_for(lambda: orch.get(f"/routers/{router.id}").status_code == 200)
    r = orch.ctl("--format", "json", "poll", "--wait", "--timeout", "50")
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(r.stdout)
    assert got["rechecked"] == got["of"] >= 1 and got["timed_out"] is False
    assert r.stderr == ""  # JSON mode and no terminal: no progress
