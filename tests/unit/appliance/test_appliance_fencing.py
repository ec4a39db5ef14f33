"""Fencing at the appliance: a push's lease epoch against the highest accepted.

The comparison is a table (``wire.tenure``); the API refuses an older epoch with 409
and changes nothing, remembers the highest in the appliance's private state (0600)
across a restart, and takes a push without an epoch (a single node) as before.
"""

from __future__ import annotations

import asyncio
import stat

import httpx
import pytest
from test_appliance_api import SECRET, put

from astara.appliance import fencing
from astara.appliance.api import SCOPE_KEY, Served, make_app, override_outcome
from astara.wire import auth, tenure
from astara.wire.examples import router_document
from astara.wire.tenure import Tenure, parse, refusal

A5, B4 = Tenure(5, "orch-a/1/x"), Tenure(4, "orch-b/2/y")


@pytest.mark.parametrize(("accepted", "pushed", "refused"), [
    (None, None, False),          # a single node: nothing known, nothing carried
    (None, Tenure(1, "a"), False),  # the first epoch
    (A5, None, False),            # a single node after a cluster: accepted as before
    (A5, Tenure(5, "a"), False),  # the same tenure again
    (A5, Tenure(6, "c"), False),  # a newer owner
    (A5, B4, True),               # an older owner: fenced
    (A5, Tenure(0, "z"), True),
])
def test_refusal_table(accepted, pushed, refused):
    assert (refusal(accepted, pushed) is not None) is refused


def test_the_refusal_names_both_epochs_and_says_a_newer_owner_exists():
    assert refusal(A5, B4) == ("fenced: epoch 4 (owner orch-b/2/y) is older than epoch 5 "
                               "(owner orch-a/1/x) accepted before: a newer owner exists")


@pytest.mark.parametrize("bad", ["-1", "1.5", "x", "", "٣", "9" * 20, str(2**63)])
def test_an_epoch_that_is_no_bounded_decimal_is_refused(bad):
    with pytest.raises(ValueError):
        parse(bad, "a")


def test_parse_reads_the_headers_and_bounds_the_owner():
    assert parse(None, "a") is None
    assert parse("7", "o" * 300) == Tenure(7, "o" * 255)


def _put(served: Served, doc: dict | None, t: Tenure | None = None, raw: dict | None = None,
         path: str = "/v1/system/config/", secret: bytes = SECRET):
    app = make_app()

    async def one(scope, receive, send):
        await app({**scope, SCOPE_KEY: served}, receive, send)

    async def go():
        headers = {auth.HEADER: auth.bearer(secret), **(t.headers() if t else {}),
                   **(raw or {})}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=one),
                                     base_url="http://appliance") as client:
            return await client.put(path, json=doc, headers=headers)
    return asyncio.run(go())


def test_an_older_epoch_is_409_and_changes_nothing_even_after_a_restart(appliance):
    served = Served(appliance, SECRET)
    assert _put(served, router_document(1), A5).status_code == 200
    digest, applies = appliance.digest, appliance.applies
    res = _put(served, router_document(2), B4)
    assert res.status_code == 409 and "a newer owner exists" in res.json()["error"]
    assert res.json()["accepted_epoch"] == A5.epoch  # the pusher may be behind (a restore)
    assert (appliance.digest, appliance.applies) == (digest, applies)
    path = appliance.state_dir / fencing.FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = Served(appliance, SECRET)  # an agent restarted: the record is read back
    assert _put(again, router_document(2), B4).status_code == 409
    assert appliance.digest == digest
    assert _put(again, router_document(2)).status_code == 200  # no epoch: as before
    assert _put(again, router_document(3), Tenure(6, "c")).status_code == 200
    assert fencing.load(appliance.state_dir) == Tenure(6, "c")


def test_a_bad_epoch_header_is_400_and_a_push_without_one_is_unchanged(appliance):
    served = Served(appliance, SECRET)
    res = _put(served, router_document(1), raw={tenure.EPOCH_HEADER: "soon"})
    assert res.status_code == 400 and appliance.applies == 0
    assert put(appliance, router_document(1)).status_code == 200
    assert not (appliance.state_dir / fencing.FILE).exists()


@pytest.mark.parametrize("text", ["{not json", "", '{"epoch": Infinity, "owner": "a"}',
                                  '{"epoch": -1, "owner": "a"}', '{"epoch": 1.5, "owner": "a"}',
                                  '{"epoch": true, "owner": "a"}', '{"owner": "a"}', "[]"])
def test_an_unreadable_record_refuses_epoch_calls_with_503_and_one_log_line(
        appliance, text, caplog):
    path = appliance.state_dir / fencing.FILE
    path.write_text(text)
    with pytest.raises(fencing.Unreadable):
        fencing.load(appliance.state_dir)
    served = Served(appliance, SECRET)
    res = _put(served, router_document(1), B4)
    assert res.status_code == 503 and "cannot be read" in res.json()["error"]
    assert _put(served, None, B4, path=tenure.TENURE_PATH).status_code == 503
    assert appliance.applies == 0 and path.read_text() == text
    assert caplog.text.count("refusing epoch-carrying calls") == 2  # one per call
    assert _put(served, router_document(1)).status_code == 200  # no epoch: as before
    path.unlink()  # the operator's way out
    assert _put(served, router_document(2), B4).status_code == 200


def test_an_unreadable_file_is_503_not_a_traceback(appliance):
    (appliance.state_dir / fencing.FILE).mkdir()  # IsADirectoryError
    assert _put(Served(appliance, SECRET), router_document(1), B4).status_code == 503


def test_an_adopting_owner_records_its_epoch_without_applying_and_older_pushes_are_refused(
        appliance):
    served = Served(appliance, SECRET)
    assert _put(served, router_document(1), B4).status_code == 200
    digest, applies = appliance.digest, appliance.applies
    res = _put(served, None, A5, path=tenure.TENURE_PATH)
    assert res.status_code == 200 and res.json() == {"epoch": 5}
    assert (appliance.digest, appliance.applies) == (digest, applies)
    assert fencing.load(appliance.state_dir) == A5
    stale = _put(served, router_document(2), B4)  # the paused former owner's push
    assert stale.status_code == 409 and stale.json()["accepted_epoch"] == 5
    assert _put(served, None, B4, path=tenure.TENURE_PATH).status_code == 409
    assert _put(served, None, path=tenure.TENURE_PATH).status_code == 400  # no epoch
    assert _put(served, None, A5, path=tenure.TENURE_PATH,
                secret=b"wrong").status_code == 401
    assert (appliance.digest, appliance.applies) == (digest, applies)


def test_an_epoch_that_cannot_be_written_down_is_503_and_written_at_the_next_call(
        appliance, monkeypatch):
    served = Served(appliance, SECRET)
    real = fencing.save

    def full(state_dir, t):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fencing, "save", full)
    res = _put(served, None, A5, path=tenure.TENURE_PATH)
    assert res.status_code == 503 and "could not be recorded" in res.json()["error"]
    assert not (appliance.state_dir / fencing.FILE).exists()
    assert _put(served, router_document(1), B4).status_code == 409  # held in memory
    assert _put(served, router_document(1), A5).status_code == 200  # a push applies
    monkeypatch.setattr(fencing, "save", real)
    res = _put(served, None, A5, path=tenure.TENURE_PATH)  # the same epoch, retried
    assert res.status_code == 200 and fencing.load(appliance.state_dir) == A5


def test_an_operator_override_applies_past_the_fence_with_a_warning_and_records_nothing(
        appliance, caplog):
    served = Served(appliance, SECRET)
    assert _put(served, router_document(1), A5).status_code == 200
    who = {tenure.OVERRIDE_HEADER: "astara-debug-router root@h pid 7"}
    with caplog.at_level("WARNING", logger="astara.appliance.api"):
        res = _put(served, router_document(2), raw=who)
    assert res.status_code == 200 and appliance.applies == 2
    (line,) = [r.getMessage() for r in caplog.records if "overriding the fence" in
               r.getMessage()]
    assert "astara-debug-router root@h pid 7" in line and "epoch 5 (owner orch-a/1/x)" in line
    assert fencing.load(appliance.state_dir) == A5  # kept: the owner's next push lands
    assert _put(served, router_document(3), B4).status_code == 409  # still fenced
    # An override names no epoch: both at once is a contradiction, refused.
    assert _put(served, router_document(3), A5, raw=who).status_code == 400
    assert appliance.applies == 2


def test_an_override_that_does_not_apply_is_logged_as_not_applied(appliance, caplog):
    served = Served(appliance, SECRET)
    doc = router_document(1)
    doc["networks"][3]["interface"]["mac_address"] = "fa:16:3e:99:99:99"  # not here
    who = {tenure.OVERRIDE_HEADER: "astara-debug-router root@h pid 7"}
    with caplog.at_level("WARNING", logger="astara.appliance.api"):
        assert _put(served, doc, raw=who).status_code == 422
    (line,) = [r.getMessage() for r in caplog.records if "overriding the fence" in
               r.getMessage()]
    assert ": refused, nothing changed (" in line and "fa:16:3e:99:99:99" in line
    assert "applied" not in line


def test_an_override_rolled_back_is_said_so():
    assert override_outcome("nft load failed", False) == "failed, rolled back (nft load failed)"
    assert override_outcome(None, False) == "applied"
