"""An HA router's pair over the real state store (SQLite and PostgreSQL): only the
router's row is stored (a member key is longer than the store's router id column),
and a restarted reconciler picks the pair up again without booting anything."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.integration.conftest import fresh_database
from tests.orchestrator_world import REF, RID, router_model, sync_mgmt

from astara.db import migrate
from astara.db.engine import Database
from astara.orchestrator.clients.fakes import FakeAppliances, FakeCompute, FakeNetwork
from astara.orchestrator.models import RouterStateRow
from astara.orchestrator.opts import management_defaults, plan_defaults
from astara.orchestrator.reconcile.execute import Executor
from astara.orchestrator.reconcile.observe import Observer
from astara.orchestrator.reconcile.reconciler import Reconciler
from astara.orchestrator.state_store import RouterStateStore


@pytest.fixture
def db(tmp_path):
    database = Database(fresh_database(tmp_path))
    migrate.upgrade(database.engine)
    yield database
    database.dispose()


def test_pair_state_is_stored_under_the_router_only(db):
    store = RouterStateStore(db)
    model = router_model()
    model.router["ha"] = True
    network = FakeNetwork(models={RID: model})
    compute = FakeCompute(hosts=("h1", "h2"))
    appliances = FakeAppliances(compute)

    def reconciler() -> Reconciler:
        return Reconciler(Observer(network, compute, appliances, management_defaults()),
                          Executor(network, compute, appliances), plan_defaults(),
                          store=store)

    rec = reconciler()
    for _ in range(30):
        rec.run(REF)
        sync_mgmt(network, appliances)
        for rid, port in network.mgmt_ports.items():
            appliances.mgmt_of[port["fixed_ips"][0]["ip_address"]] = rid
        pair = rec.states[RID].pair
        if pair and pair["state"] == "ACTIVE":
            break
    assert rec.states[RID].pair["state"] == "ACTIVE"
    with db.read() as s:
        assert list(s.scalars(select(RouterStateRow.router_id))) == [RID]
    booted = len([c for c in compute.calls if c[0] == "boot"])
    assert booted == 2
    again = reconciler()
    for _ in range(3):
        again.run(REF)
    assert again.states[RID].pair["state"] == "ACTIVE"
    assert len([c for c in compute.calls if c[0] == "boot"]) == booted
