"""Which attached ports a server's delete gives back though its record lacks them."""

from __future__ import annotations

from astara.compute_service.api import ports


def port(pid: str) -> dict:
    return {"port_id": pid, "owned": True}


def test_an_attach_whose_event_has_not_landed_is_given_back():
    assert ports.unjoined([("attach", port("a"))], known={"boot"}) == [port("a")]


def test_an_attach_the_record_lists_is_left_to_the_record():
    assert ports.unjoined([("attach", port("a"))], known={"a"}) == []


def test_a_detached_port_was_given_back_by_its_detach():
    assert ports.unjoined([("attach", port("a")), ("detach", port("a"))], known=set()) == []


def test_the_last_job_of_a_port_decides():
    jobs = [("attach", port("a")), ("detach", port("a")), ("attach", port("a")),
            ("attach", port("b")), ("detach", port("b"))]
    assert ports.unjoined(jobs, known=set()) == [port("a")]


def test_a_job_without_a_port_is_ignored():
    assert ports.unjoined([("attach", None), ("attach", {"x": 1})], known=set()) == []
