"""One appliance's Prometheus metrics: its config pushes and its daemons' actions.

Each appliance the agent serves has its own registry (``Served.metrics``), rendered
by ``GET /metrics`` on that appliance's API with the same Bearer secret as every
route: scraped the same way whether the agent serves one VM or a host's namespaces.
Counted from each push's ``converge.Result`` (the only way the agent starts, reloads
or stops dnsmasq or haproxy): a daemon that died or whose configuration changed is
started again by the next push, and shows as one more ``start``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from astara.appliance.converge import Result

DAEMON_ACTIONS = ("start", "reload", "stop")


def apply_result(result: Result) -> str:
    """``changed``, ``unchanged``, ``rejected`` (did not fit) or ``failed``."""
    if result.error is not None:
        return "rejected" if result.rejected else "failed"
    return "changed" if result.changed else "unchanged"


def daemon_actions(result: Result) -> list[tuple[str, str]]:
    """(daemon, action) for every dnsmasq (one per interface) and haproxy action."""
    actions = [("dnsmasq", entry.split(" ", 1)[0]) for entry in result.dhcp]
    if result.haproxy in DAEMON_ACTIONS:
        actions.append(("haproxy", result.haproxy))
    return [a for a in actions if a[1] in DAEMON_ACTIONS]


class ApplianceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.applies = Counter("astara_appliance_config_applies",
                               "Config documents pushed, by result.", ["result"],
                               registry=self.registry)
        self.daemons = Counter("astara_appliance_daemon_actions",
                               "dnsmasq and haproxy starts, reloads and stops.",
                               ["daemon", "action"], registry=self.registry)
        for daemon in ("dnsmasq", "haproxy"):  # shown at 0 before the first push
            for action in DAEMON_ACTIONS:
                self.daemons.labels(daemon, action)

    def applied(self, result: Result) -> None:
        self.applies.labels(apply_result(result)).inc()
        for daemon, action in daemon_actions(result):
            self.daemons.labels(daemon, action).inc()
