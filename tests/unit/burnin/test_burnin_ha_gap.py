"""The failover gap read from ``ping -D`` output (burn-in, e2e test and bench share it)."""

from __future__ import annotations

from astara.burnin.ha import reply_gap


def test_the_longest_time_between_two_replies():
    out = "\n".join([
        "PING 198.51.100.1 (198.51.100.1) 56(84) bytes of data.",
        "[1000.000] 64 bytes from 198.51.100.1: icmp_seq=1 ttl=63 time=0.1 ms",
        "[1000.050] 64 bytes from 198.51.100.1: icmp_seq=2 ttl=63 time=0.1 ms",
        "[1000.750] 64 bytes from 198.51.100.1: icmp_seq=16 ttl=63 time=0.1 ms",
        "[1000.800] 64 bytes from 198.51.100.1: icmp_seq=17 ttl=63 time=0.1 ms",
        "[1000.900] From 10.61.0.1 icmp_seq=18 Destination Host Unreachable",
    ])
    assert abs(reply_gap(out) - 0.7) < 1e-9
    assert reply_gap("") == 0.0
