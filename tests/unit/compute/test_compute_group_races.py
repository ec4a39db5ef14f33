"""A boot that loses the hard-policy race is placed again while a host is free."""

from __future__ import annotations

from types import SimpleNamespace

from astara.compute_service.api import server_group_store
from astara.compute_service.api.service import ComputeService


def test_a_boot_losing_three_races_is_still_placed():
    svc = ComputeService.__new__(ComputeService)
    placed: list[bool] = []

    def create(ctx, req, server_id, placed_=True):
        placed.append(placed_)
        if len(placed) <= 3:
            raise server_group_store.Raced
        return "instance", ""

    svc._existing = lambda ctx: None
    svc._create = lambda ctx, req, server_id, placed=True: create(ctx, req, server_id, placed)
    assert svc.create(SimpleNamespace(), SimpleNamespace()) == ("instance", "")
    assert placed == [True] * 4  # never created unplaced ("No valid host")
