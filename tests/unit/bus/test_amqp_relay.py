"""The AMQP transport's decisions: where a message goes, what the listener hands
intake, which re-deliveries it drops, and the relay's cursor (moved only past what
the broker confirmed, in order)."""

from __future__ import annotations

import pytest

from astara.bus import amqp
from astara.bus.base import Message
from astara.bus.relay import Relay, next_backoff


@pytest.mark.parametrize(("event_type", "exchange"), [
    ("router.update.end", "neutron"),
    ("router.interface.create", "neutron"),
    ("loadbalancer.create.end", "neutron"),  # neutron-lbaas published on neutron's
    ("compute.instance.create.end", "nova"),
    ("compute.instance.delete.end", "nova"),
    ("", "neutron"),
])
def test_exchange_for(event_type, exchange):
    assert amqp.exchange_for({"event_type": event_type}) == exchange


def test_body_of_puts_the_context_back_as_intake_reads_it():
    body = amqp.body_of({"project_id": "p", "is_admin": False}, "network.h",
                        "router.update.end", {"router": {"id": "r"}},
                        {"message_id": "m", "timestamp": "t"})
    assert body == {"message_id": "m", "publisher_id": "network.h",
                    "event_type": "router.update.end", "priority": "INFO",
                    "payload": {"router": {"id": "r"}}, "timestamp": "t",
                    "_context_project_id": "p", "_context_is_admin": False}


def test_recent_ids_forget_the_oldest():
    recent = amqp.RecentIds(size=2)
    for i in ("a", "b", "a", "c"):
        recent.add(i)
    assert "a" in recent and "c" in recent and "b" not in recent


class FakeOutbox:
    def __init__(self, n: int):
        self.rows = [Message(i, "notifications.info",
                             {"event_type": "compute.instance.create.end" if i % 2 else
                              "router.update.end", "message_id": f"m{i}"})
                     for i in range(1, n + 1)]
        self.cursor = 0

    def fetch(self, limit: int = 100):
        return [m for m in self.rows if m.position > self.cursor][:limit]

    def ack(self, position: int) -> None:
        self.cursor = max(self.cursor, position)

    def maintain(self) -> None:
        pass

    def wait(self, timeout: float) -> bool:
        return False

    def close(self) -> None:
        pass


class FakeSender:
    def __init__(self, fail_at: set[str] | None = None):
        self.sent: list[tuple[str, str]] = []
        self.fail_at = fail_at or set()

    def send(self, exchange, body, topic="notifications.info"):
        if body["message_id"] in self.fail_at:
            self.fail_at.discard(body["message_id"])
            raise ConnectionError("broker gone")
        self.sent.append((exchange, body["message_id"]))


def test_relay_sends_in_order_and_moves_the_cursor_past_them():
    outbox, sender = FakeOutbox(5), FakeSender()
    relay = Relay(outbox, sender)  # type: ignore[arg-type]
    assert relay.pump() == 5
    assert sender.sent == [("nova", "m1"), ("neutron", "m2"), ("nova", "m3"),
                           ("neutron", "m4"), ("nova", "m5")]
    assert outbox.cursor == 5 and relay.pump() == 0


def test_a_failed_send_keeps_the_cursor_before_it_and_is_sent_again_first():
    outbox, sender = FakeOutbox(4), FakeSender(fail_at={"m3"})
    relay = Relay(outbox, sender)  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        relay.pump()
    assert outbox.cursor == 2  # m1, m2 confirmed; m3 not
    relay.pump()
    assert [m for _, m in sender.sent] == ["m1", "m2", "m3", "m4"]  # none lost, in order
    assert outbox.cursor == 4


def test_relay_status_says_down_since_when_while_sends_fail_and_clears_after():
    outbox, sender = FakeOutbox(3), FakeSender(fail_at={"m2"})
    relay = Relay(outbox, sender)  # type: ignore[arg-type]
    seen: list[dict] = []

    def stop() -> bool:  # looked at once per round: record the status each time
        seen.append(relay.status())
        return len(seen) > 3

    relay._stop.wait = lambda timeout: False  # type: ignore[method-assign]  # no back-off
    relay.run(stop)
    assert [v["state"] for v in seen[:3]] == ["relaying", "down", "relaying"]
    assert seen[1]["error"] == "ConnectionError: broker gone"
    assert seen[1]["down_since"].endswith("Z") and seen[1]["failures"] == 1
    assert "down_since" not in seen[2] and seen[2]["sent"] == 3


def test_back_off_doubles_up_to_its_cap():
    seq, b = [], 0.0
    for _ in range(10):
        b = next_backoff(b)
        seq.append(b)
    assert seq[:4] == [0.1, 0.2, 0.4, 0.8] and seq[-1] == 10.0


def test_error_and_warn_notifications_reach_intake_with_their_priority():
    # oslo dispatches by the message's priority: an endpoint without ``error`` would
    # ack a failed appliance boot (compute.instance.create.error) unseen.
    from oslo_messaging.notify.dispatcher import NotificationDispatcher

    seen: list[dict] = []
    endpoint = amqp._Endpoint(lambda body: seen.append(body) or True)
    dispatcher = NotificationDispatcher([endpoint], None)
    assert {"info", "warn", "error"} <= set(dispatcher.supported_priorities)
    for priority in ("info", "warn", "error"):
        getattr(endpoint, priority)({}, "compute.h", "compute.instance.create.error",
                                    {}, {"message_id": priority})
    assert [b["priority"] for b in seen] == ["INFO", "WARN", "ERROR"]


def test_relay_status_is_starting_until_it_runs():
    relay = Relay(FakeOutbox(1), FakeSender())  # type: ignore[arg-type]
    assert relay.status()["state"] == "starting"  # the broker unreachable at start-up


class FlakyLease:
    """Held for the first round, lost after."""

    renew_every = 1.0

    def __init__(self):
        self.calls = 0

    def keep(self) -> bool:
        self.calls += 1
        return self.calls == 1

    def release(self) -> None:
        pass


def test_a_relay_that_failed_then_lost_its_lease_is_a_standby_not_down():
    relay = Relay(FakeOutbox(2), FakeSender(fail_at={"m1"}),  # type: ignore[arg-type]
                  lease=FlakyLease())  # type: ignore[arg-type]
    seen: list[dict] = []

    def stop() -> bool:
        seen.append(relay.status())
        return len(seen) > 2

    relay._stop.wait = lambda timeout: False  # type: ignore[method-assign]  # no back-off
    relay.run(stop)
    assert [v["state"] for v in seen] == ["relaying", "down", "standby"]
    assert "down_since" not in seen[2]
