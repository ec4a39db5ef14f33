"""Nova's external events (``network-vif-plugged``...), sent off the request path.

``NovaNotifier.send(events)`` runs once a write has committed and only queues them
(a bounded queue: when full, an event is dropped with one log line). One daemon
thread, started by the first event, posts whatever is queued in one request to
``<nova_url>/v2.1/os-server-external-events`` as an admin of the service project, with
a short timeout. Best effort, as Neutron's Nova notifier: a failure is one log line
per event naming its port and server, never retried and never the API caller's error
(a lost ``network-vif-plugged`` only means the guest asks for its lease at its next
DHCP retry).
"""

from __future__ import annotations

import logging
import queue
import threading

import httpx

LOG = logging.getLogger(__name__)

PATH = "/v2.1/os-server-external-events"
USER_ID = "astara-network"  # the X-User-Id the events carry
TIMEOUT = 2.0  # seconds for one post: a slow Nova delays only the events behind it
MAX_QUEUED = 1000
MAX_BATCH = 100  # events per request (Nova takes a list)


def _describe(event: dict) -> str:
    return (f"{event.get('name')} for server {event.get('server_uuid')} "
            f"(port {event.get('tag')})")


def _codes(response: httpx.Response, count: int) -> list[int]:
    """Each event's code from Nova's answer (207: some failed), else the answer's."""
    try:
        events = response.json().get("events")
        codes = [int(e.get("code", response.status_code)) for e in events]
    except (ValueError, TypeError, AttributeError):
        codes = []
    return codes if len(codes) == count else [response.status_code] * count


class NovaNotifier:
    def __init__(self, nova_url: str, project_id: str, timeout: float = TIMEOUT,
                 max_queued: int = MAX_QUEUED, transport: httpx.BaseTransport | None = None,
                 auth: httpx.Auth | None = None):
        """``auth``: the service user's Keystone token (the ``[nova]`` auth section);
        None: the noauth admin headers only."""
        self._auth = auth
        self.url = nova_url.rstrip("/") + PATH
        url = httpx.URL(self.url)  # a malformed URL is a start-up error, not a dead thread
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"nova_url {nova_url!r} is not an http(s) URL")
        self.headers = {"X-Project-Id": project_id, "X-Roles": "admin", "X-User-Id": USER_ID,
                        "X-OpenStack-Nova-API-Version": "2.1"}
        self._timeout = timeout
        self._transport = transport
        self._queue: queue.Queue[dict | None] = queue.Queue(max_queued)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def send(self, events: list[dict]) -> None:
        """Queue ``events``; never blocks, never raises."""
        if not self._started():
            return
        for event in events:
            try:
                self._queue.put_nowait(event)
            except queue.Full:
                LOG.warning("Nova event %s dropped: %d events already wait to be sent",
                            _describe(event), self._queue.qsize())

    def _started(self) -> bool:
        with self._lock:
            if self._closed:
                return False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="nova-events",
                                                daemon=True)
                self._thread.start()
            return True

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (for up to ``timeout`` s), then stop the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return  # the daemon thread dies with the process
        thread.join(timeout)

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout, headers=self.headers,
                          transport=self._transport,
                          **({"auth": self._auth} if self._auth else {})) as client:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch, stop = [first], False
                while len(batch) < MAX_BATCH:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    batch.append(more)
                try:
                    self._post(client, batch)
                except Exception:  # the thread must outlive any one batch
                    LOG.exception("Nova events %s not sent to %s",
                                  ", ".join(_describe(e) for e in batch), self.url)
                if stop:
                    return

    def _post(self, client: httpx.Client, batch: list[dict]) -> None:
        try:
            r = client.post(self.url, json={"events": batch})
        except httpx.HTTPError as exc:
            for event in batch:
                LOG.warning("Nova event %s not sent to %s: %s", _describe(event), self.url,
                            str(exc) or type(exc).__name__)
            return
        if r.status_code == 200:
            return
        for event, code in zip(batch, _codes(r, len(batch)), strict=True):
            if code != 200:
                LOG.warning("Nova event %s not taken: %d (answer %d %s)", _describe(event),
                            code, r.status_code, r.text[:200].replace("\n", " "))
