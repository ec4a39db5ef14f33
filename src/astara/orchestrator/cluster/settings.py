"""``[coordination]``: whether orchestrators form a cluster, and its timings.

Disabled (the default) the orchestrator owns everything, exactly as a single node
always did. Enabled, ``astara-orchestrator`` joins ``group_id`` on the tooz service at
``url`` under ``member_name`` and owns what the hash ring gives that name.
"""

from __future__ import annotations

import socket
import urllib.parse
from dataclasses import dataclass

from oslo_config import cfg

from astara.common.entry import ConfigError

GROUP = "coordination"

OPTS = [
    cfg.BoolOpt("enabled", default=False,
                help="Run as one member of a cluster of orchestrators (tooz hash ring). "
                "Off: this orchestrator serves every resource, as a single node."),
    cfg.StrOpt("url", default="etcd3+http://127.0.0.1:2379",
               help="tooz backend URL: etcd (etcd3+http://host:port), ZooKeeper "
               "(zookeeper://host:port) or Redis (redis://host:port)."),
    cfg.StrOpt("group_id", default="astara.orchestrator",
               help="tooz group the orchestrators join."),
    cfg.FloatOpt("heartbeat_interval", default=1.0, min=0.1,
                 help="Seconds between two heartbeats (and two looks at the ring)."),
    cfg.IntOpt("heartbeat_timeout", default=10, min=2,
               help="Seconds without a heartbeat after which a member is gone from the "
               "group; also the length of a resource's ownership lease."),
    cfg.FloatOpt("fence_margin", default=2.0, min=0.1,
                 help="A step that acts (boot, push, delete) runs only while at least "
                 "this many seconds of the resource's lease remain; a released lease "
                 "keeps exactly this long, so a step started before cannot overlap "
                 "the next owner's."),
    cfg.StrOpt("member_name", default=socket.gethostname(),
               sample_default="<hostname>",
               help="This orchestrator's name on the ring (unique in the group, the same "
               "across restarts: what it owned comes back to it)."),
    cfg.StrOpt("rpc_url", default="",
               help="URL other members reach this orchestrator's RPC API at (shown by "
               "astara-ctl cluster). Empty: http://<first rpc_hosts>:<rpc_port>."),
    cfg.BoolOpt("peer_signature_transition", default=False,
                help="For a rolling upgrade from members that sign their calls without "
                "the receiver (astara-peer-v1): sign each call both ways and accept the "
                "earlier form. While on, a call captured on its way to one member can be "
                "replayed to another once; turn it off on every member once all are "
                "upgraded (logged at start)."),
]


@dataclass(frozen=True)
class CoordinationSettings:
    enabled: bool
    url: str
    group_id: str
    heartbeat_interval: float
    heartbeat_timeout: int
    fence_margin: float
    member_name: str
    rpc_url: str
    peer_signature_transition: bool = False  # a rolling upgrade (``peer_auth``)

    @property
    def lease(self) -> float:
        """Seconds a resource's ownership lasts without renewal (= the membership's)."""
        return float(self.heartbeat_timeout)

    def tooz_url(self) -> str:
        """``url`` with tooz's member timeout set to ``heartbeat_timeout`` unless given;
        for Redis also the client's socket (and connect) timeout, a fifth of it unless
        given: tooz's default is the member timeout, and a beat makes up to five calls
        (start, heartbeat, create and join the group, list it), so a Redis that hangs
        or answers slowly cannot hold one beat past the lease."""
        given = {k for k, _ in urllib.parse.parse_qsl(urllib.parse.urlsplit(self.url).query)}
        extra = {} if "timeout" in given else {"timeout": str(self.heartbeat_timeout)}
        if self.url.startswith(("redis://", "rediss://")):
            for key in ("socket_timeout", "socket_connect_timeout"):
                if key not in given:
                    extra[key] = f"{self.heartbeat_timeout / 5:g}"
        if not extra:
            return self.url
        sep = "&" if "?" in self.url else "?"
        return f"{self.url}{sep}{urllib.parse.urlencode(extra)}"


def check(s: CoordinationSettings) -> CoordinationSettings:
    """The timings must leave room: several heartbeats per lease, a margin inside it."""
    if not s.enabled:
        return s
    if s.heartbeat_interval * 3 > s.heartbeat_timeout:
        raise ConfigError("[coordination] heartbeat_interval must be at most a third of "
                          f"heartbeat_timeout ({s.heartbeat_interval} > "
                          f"{s.heartbeat_timeout} / 3)")
    if s.fence_margin * 2 > s.heartbeat_timeout:
        raise ConfigError("[coordination] fence_margin must be at most half of "
                          f"heartbeat_timeout ({s.fence_margin} > {s.heartbeat_timeout} / 2)")
    if not s.member_name or len(s.member_name) > 200:
        raise ConfigError("[coordination] member_name must have 1 to 200 characters")
    return s


def from_conf(conf: cfg.ConfigOpts) -> CoordinationSettings:
    g = conf[GROUP]
    return check(CoordinationSettings(**{o.dest: g[o.dest] for o in OPTS}))


def disabled() -> CoordinationSettings:
    return CoordinationSettings(False, "", "", 1.0, 10, 2.0, socket.gethostname(), "")
