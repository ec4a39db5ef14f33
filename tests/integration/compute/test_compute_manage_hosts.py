"""``astara-compute-manage host-list | host-drain | host-undrain`` through its main(),
over a real database: what an operator sees, and that a drained host gets nothing new."""

from __future__ import annotations

import json
from datetime import timedelta

from astara.cli import compute_manage as manage
from astara.compute_service import jobs
from astara.compute_service.api import placement
from astara.compute_service.models import Host


def run(config, capsys, *args) -> tuple[int, object]:
    capsys.readouterr()
    rc = manage.main(["--config-file", str(config), *args])
    out = capsys.readouterr()
    return rc, (json.loads(out.out) if rc == 0 else out.err)


def test_list_drain_undrain(db, tmp_path, capsys):
    stamp = jobs.now()
    with db.write() as s:
        s.add(Host(name="h1", capacity=10, drained=False, updated_at=stamp))
        s.add(Host(name="h2", capacity=5, drained=False,
                   updated_at=stamp - timedelta(seconds=600)))
    config = tmp_path / "manage.ini"
    config.write_text(f"[DEFAULT]\nstate_path = {tmp_path}\n"
                      f"[database]\nconnection = {db.url}\nauto_migrate = false\n"
                      "[compute_service]\nagent_down_time = 60\n")

    rc, hosts = run(config, capsys, "host-list")
    assert rc == 0
    assert [(h["name"], h["capacity"], h["instances"], h["drained"], h["agent_alive"])
            for h in hosts] == [("h1", 10, 0, False, True), ("h2", 5, 0, False, False)]

    rc, shown = run(config, capsys, "host-drain", "h1")
    assert rc == 0 and shown["name"] == "h1" and shown["drained"] is True
    with db.read() as s:
        assert placement.pick_host(s, down_after=60) is None  # h1 drained, h2 silent

    rc, shown = run(config, capsys, "host-undrain", "h1")
    assert rc == 0 and shown["drained"] is False
    with db.read() as s:
        assert placement.pick_host(s, down_after=60) == "h1"

    rc, err = run(config, capsys, "host-drain", "nope")
    assert rc == 1 and "no host 'nope'" in err
