"""ZygoteResponders.start: which failures of the zygote fall back to a process of its own."""

from __future__ import annotations

from pathlib import Path

from astara.compute_service.agent.responders import Refused, ZygoteResponders
from astara.compute_service.agent.runner import FakeRunner


class Answering(ZygoteResponders):
    """The zygote's answer is given by the test; the child it forked may still be alive."""

    def __init__(self, runner: FakeRunner, failure: Exception):
        super().__init__(runner, Path("/nonexistent"), "python3")
        self.failure = failure

    def _ask(self, ns, name, pidfile, logfile) -> int:
        self.runner.processes[pidfile] = ["forked by the zygote"]  # not yet exited
        raise self.failure


def test_a_refusal_falls_back_even_while_the_refused_child_is_still_exiting(caplog):
    runner = FakeRunner()
    pidfile = Path("/x/responder.pid")
    with caplog.at_level("WARNING"):
        Answering(runner, Refused("OSError: [Errno 98] Address already in use")).start(
            "ns", "n", pidfile, Path("/x/responder.log"))
    assert "Address already in use" in caplog.text
    assert runner.processes[pidfile][:2] == ["nsenter", "--net=/run/netns/ns"]  # its own process


def test_a_lost_answer_keeps_the_responder_forked_all_the_same(caplog):
    runner = FakeRunner()
    pidfile = Path("/x/responder.pid")
    with caplog.at_level("WARNING"):
        Answering(runner, TimeoutError("timed out")).start("ns", "n", pidfile,
                                                            Path("/x/responder.log"))
    assert caplog.text == ""
    assert runner.processes[pidfile] == ["forked by the zygote"]
