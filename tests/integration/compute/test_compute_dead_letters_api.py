"""``os-astara-dead-letters`` over HTTP: a message the running dispatcher could not parse
is listed and shown to an admin, a retry re-applies a fixed one (the instance becomes
ACTIVE through the API) and leaves an unparsable one with its error; a member is
refused; ids, limits and bodies out of bounds get Nova's faults."""

from __future__ import annotations

import json
import uuid

import httpx
from tests.support import wait_for

from astara.bus.outbox import OutboxPublisher
from astara.bus.wakeup import WakeupDir
from astara.compute_service import events, jobs
from astara.compute_service.models import DeadLetter, Instance, QuotaUsage


def url(compute, tail: str = "") -> str:
    return f"{compute.api.url}/v2.1/os-astara-dead-letters{tail}"


def test_admin_lists_shows_and_retries(compute, network_settings, admin_user, user):
    marker = f"not-an-object-{uuid.uuid4().hex}"
    with compute.db.write() as s:  # what an agent of another version might send
        OutboxPublisher(WakeupDir(network_settings.bus.wakeup_dir)).publish(
            s, events.TOPIC, {"event_type": "compute.instance.create.end", "payload": marker})

    def dead_for_marker():
        got = httpx.get(url(compute), params={"limit": "1000"}, headers=admin_user.headers)
        assert got.status_code == 200, got.text
        return next((d for d in got.json()["dead_letters"] if d["body"]["payload"] == marker),
                    None)
    unparsable = wait_for(dead_for_marker, timeout=20, what="the dispatcher's dead letter")
    assert unparsable["error"] == "payload is not an object"
    assert unparsable["topic"] == events.TOPIC and unparsable["created_at"]

    # An event that failed to apply (dead-lettered by the dispatcher after N tries).
    iid, stamp = str(uuid.uuid4()), jobs.now()
    with compute.db.write() as s:
        s.merge(QuotaUsage(project_id=user.project, instances=1))
        s.add(Instance(id=iid, project_id=user.project, name="vm", host="elsewhere",
                       flavor_id="1", image_id="i", created_at=stamp, updated_at=stamp,
                       task_state="scheduling"))
        good = DeadLetter(position=1, topic=events.TOPIC, error="failed 5 times: boom",
                          body=json.dumps(events.build(
                              "create.end", {"id": iid, "project_id": user.project}, 12,
                              "elsewhere")), created_at=stamp)
        s.add(good)
        s.flush()
        good_id = good.id

    shown = httpx.get(url(compute, f"/{good_id}"), headers=admin_user.headers)
    assert shown.status_code == 200
    assert shown.json()["dead_letter"]["error"] == "failed 5 times: boom"
    assert shown.json()["dead_letter"]["body"]["payload"]["instance_id"] == iid

    retried = httpx.post(url(compute, f"/{good_id}/action"), json={"retry": None},
                         headers=admin_user.headers)
    assert retried.status_code == 200, retried.text
    assert retried.json()["retry"] == {"id": good_id, "result": "applied",
                                       "dead_letter": None}
    assert user.sdk.compute.get_server(iid).status == "ACTIVE"
    assert httpx.get(url(compute, f"/{good_id}"),
                     headers=admin_user.headers).status_code == 404

    again = httpx.post(url(compute, f"/{unparsable['id']}/action"), json={"retry": None},
                       headers=admin_user.headers).json()["retry"]
    assert again["result"] == "still_unparsable"
    assert again["dead_letter"]["error"] == "payload is not an object"

    # Paging: a marker skips up to and including its id.
    after = httpx.get(url(compute), params={"marker": str(unparsable["id"]), "limit": "5"},
                      headers=admin_user.headers).json()["dead_letters"]
    assert all(d["id"] > unparsable["id"] for d in after) and len(after) <= 5


def test_member_is_refused_and_input_is_bounded(compute, admin_user, user):
    for method, tail, body in (("GET", "", None), ("GET", "/1", None),
                               ("POST", "/1/action", {"retry": None})):
        r = httpx.request(method, url(compute, tail), json=body, headers=user.headers)
        assert r.status_code == 403, (method, tail)
        assert "os-astara-dead-letters" in r.json()["forbidden"]["message"]
    for bad in ("abc", "0", "1" * 19, "%00", "-1", "9" * 18):
        r = httpx.get(url(compute, f"/{bad}"), headers=admin_user.headers)
        assert r.status_code == 404, bad
        assert "could not be found" in r.json()["itemNotFound"]["message"]
    for params in ({"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"marker": "a"},
                   {"limit": "\u00b2"}, {"limit": "\u0661\u0660"}, {"limit": "00001"},
                   {"marker": "\u00b2"}, {"sort": "id"}):
        r = httpx.get(url(compute), params=params, headers=admin_user.headers)
        assert r.status_code == 400, params
        assert "query parameters" in r.json()["badRequest"]["message"]
    for body in ({"retry": 1}, {"delete": None}, [], {"retry": None, "x": 1}):
        r = httpx.post(url(compute, "/1/action"), json=body, headers=admin_user.headers)
        assert r.status_code == 400, body
        assert "retry" in r.json()["badRequest"]["message"]
    r = httpx.post(url(compute, f"/{'9' * 18}/action"), json={"retry": None},
                   headers=admin_user.headers)
    assert r.status_code == 404
