"""The router device-owner labels are spelled once, in ``astara.common.device_owners``:
the network service and the orchestrator find a router's ports by them, so a copy that
drifts would lose ports silently. Migrations keep their own frozen copies."""

from __future__ import annotations

import ast
from pathlib import Path

import astara
from astara.common import device_owners

SRC = Path(astara.__file__).parent
LABELS = {device_owners.INTERFACE, device_owners.GATEWAY, device_owners.MGMT_OWNER}


def _spelled_out(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    return [f"{path.relative_to(SRC)}:{node.lineno} {node.value}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in LABELS]


def test_router_labels_are_named_by_their_constants():
    modules = [p for p in sorted(SRC.rglob("*.py"))
               if p != Path(device_owners.__file__) and "migrations" not in p.parts]
    assert len(modules) > 50
    assert [hit for p in modules for hit in _spelled_out(p)] == []
