"""The compute dispatcher's amqp tenure (``AmqpTransport.run``) with fakes: the relay
thread never renews the lease (a database error there killed it silently while the
lease stayed held), and a relay thread that ends on its own ends the tenure."""

from __future__ import annotations

import threading

import pytest

from astara.compute_service.dispatcher.consumer import AmqpTransport, Dispatcher, RetryPolicy


class Lease:
    renew_every, epoch = 0.1, 1

    def __init__(self):
        self.on_relay_thread = 0

    def keep(self) -> bool:
        if threading.current_thread().name == "compute-events-relay":
            self.on_relay_thread += 1
            raise RuntimeError("the database went away for a moment")
        return True


class Relay:
    def __init__(self, fail: bool = False):
        self.fail, self.running, self.stop = fail, threading.Event(), None

    def run(self, stop) -> None:
        self.running.set()
        if self.fail:
            raise RuntimeError("outbox read failed")
        while not stop():
            threading.Event().wait(0.01)

    def close(self) -> None:
        pass


class Listener:
    """Polls ``stop`` like the real one, until the relay ran and ``rounds`` are done."""

    def __init__(self, relay: Relay, rounds: int = 20):
        self.listening, self.relay, self.rounds = threading.Event(), relay, rounds
        self.relay_alive_at_end = False

    def run(self, handler, stop, give_up=None) -> None:
        self.listening.set()
        assert self.relay.running.wait(10)
        for _ in range(self.rounds):
            if stop():
                return
            threading.Event().wait(0.01)
        self.relay_alive_at_end = any(t.name == "compute-events-relay" and t.is_alive()
                                      for t in threading.enumerate())


def dispatcher(lease, side) -> Dispatcher:
    return Dispatcher(None, None, RetryPolicy(3, 0.1, 1), 0.1, lease=lease, amqp=side)


def test_the_relay_thread_never_renews_the_lease():
    relay = Relay()
    listener = Listener(relay)
    lease = Lease()
    side = AmqpTransport(lambda: relay, lambda: listener)
    disp = dispatcher(lease, side)
    side.run(disp, lambda: not disp.holding())
    assert lease.on_relay_thread == 0
    assert listener.relay_alive_at_end


def test_a_relay_thread_that_ends_ends_the_tenure():
    relay = Relay(fail=True)
    listener = Listener(relay, rounds=10_000)
    side = AmqpTransport(lambda: relay, lambda: listener)
    disp = dispatcher(Lease(), side)
    with pytest.raises(RuntimeError, match="relay ended"):
        side.run(disp, lambda: not disp.holding())


class Idle:
    def __init__(self):
        self.waits: list[float] = []

    def maintain(self) -> None:
        pass

    def fetch(self, limit: int = 100) -> list:
        return []

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return False


def test_an_idle_loop_wakes_in_time_to_renew_the_lease():
    idle = Idle()
    disp = Dispatcher(None, idle, RetryPolicy(3, 0.1, 1), 30.0, lease=Lease())
    disp._loop(lambda: len(idle.waits) >= 2)
    assert idle.waits and max(idle.waits) <= Lease.renew_every
