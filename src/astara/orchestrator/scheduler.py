"""Scheduler: which worker process owns a key. Pure and stable across restarts.

Keys are sharded by tenant, so one tenant's routers are handled by one process
(and a tenant's debug switch is honoured in one place). In a cluster the hash
ring decides first which node owns the tenant (coordination, a later step).
"""

from __future__ import annotations

import zlib


def shard_for(tenant_id: str, workers: int) -> int:
    if workers < 1:
        raise ValueError("at least one worker is needed")
    return zlib.crc32(tenant_id.encode()) % workers
