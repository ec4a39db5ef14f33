"""Prometheus metrics shared by every service: registries, HTTP request metrics, exposition.

Each app builds its own ``Registries`` (never prometheus_client's global default), so a
test or a process holding several apps counts each apart. Instruments are created on
``values``; a scrape renders ``exposed``: the same registry in one process, and with
``PROMETHEUS_MULTIPROC_DIR`` set (the network API's worker processes, ``serve``) the
sum over every process's files. Collectors that read state at scrape time (database
counts, worker snapshots) register on ``exposed``. Processes without an HTTP API serve
``exposed`` on a loopback listener (``listen``). Labels name route templates, methods,
status codes and states: never a tenant, a resource id or a raw path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
)
from prometheus_client import exposition as prom_exposition
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# API answers take milliseconds; a slow database write takes seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # no route took the request (a 404, or refused before routing)


@dataclass(frozen=True)
class Registries:
    exposed: CollectorRegistry  # what /metrics renders
    values: CollectorRegistry  # where this process's instruments live


def registries() -> Registries:
    exposed = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        # Every worker's instruments write to files in that directory; the scrape sums
        # them. The in-process registry is then only a namespace, never rendered.
        multiprocess.MultiProcessCollector(exposed)
        return Registries(exposed, CollectorRegistry())
    return Registries(exposed, exposed)


def render(registry: CollectorRegistry) -> bytes:
    return prom_exposition.generate_latest(registry)


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


class HttpMetrics:
    """``astara_<service>_http_requests_total{route,method,code}`` and
    ``astara_<service>_http_request_duration_seconds{route,method}``."""

    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            f"astara_{service}_http_requests", "HTTP requests answered, by route template, "
            "method and status code.", ["route", "method", "code"], registry=registry)
        self.latency = Histogram(
            f"astara_{service}_http_request_duration_seconds", "Time to answer an HTTP "
            "request, by route template and method.", ["route", "method"],
            buckets=LATENCY_BUCKETS, registry=registry)
        # (route, method, code) -> children: a request costs one dict lookup, not the
        # label validation and lock of ``labels()``. Bounded: routes x methods x codes.
        self._children: dict[tuple[str, str, int], tuple] = {}

    def observe(self, route: str, method: str, code: int, seconds: float) -> None:
        key = (route, method, code)
        pair = self._children.get(key)
        if pair is None:
            label = method_label(method)
            pair = (self.requests.labels(route, label, str(code)),
                    self.latency.labels(route, label))
            if label == method:  # an unknown method is counted, but not kept by name
                self._children[key] = pair
        pair[0].inc()
        pair[1].observe(seconds)


class Counts(Collector):
    """A counter family read at scrape time from plain counts a process keeps itself
    (``read()``: label values -> count), so the code counting needs no Prometheus."""

    def __init__(self, name: str, documentation: str, labels: list[str],
                 read: Callable[[], Mapping[tuple[str, ...], int]]) -> None:
        self.name, self.documentation, self.labels, self.read = name, documentation, labels, read

    def describe(self) -> list:
        return []

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for values, n in sorted(self.read().items()):
            family.add_metric(list(values), n)
        yield family


def listen(registry: CollectorRegistry, host: str, port: int) -> WSGIServer:
    """Serve ``registry`` over HTTP on ``host:port`` from a daemon thread (processes
    with no API of their own: the compute agent and dispatcher); ``shutdown()`` stops it."""
    server, _thread = prom_exposition.start_http_server(port, host, registry)
    return server
