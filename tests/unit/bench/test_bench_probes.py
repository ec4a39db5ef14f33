"""The scale bench's reading of ping's output: which echo requests count as lost."""

from __future__ import annotations

from bench.probes import lost


def ping_output(replies: list[int], sent: int) -> str:
    lines = ["PING 100.64.0.1 (100.64.0.1) 56(84) bytes of data."]
    lines += [f"[1796185244.{seq:06d}] 64 bytes from 100.64.0.1: icmp_seq={seq} ttl=63 "
              "time=0.1 ms" for seq in replies]
    lines += ["", "--- 100.64.0.1 ping statistics ---",
              f"{sent} packets transmitted, {len(replies)} received, 0% packet loss, "
              "time 1000ms"]
    return "\n".join(lines)


def test_every_request_answered_is_no_loss():
    assert lost(ping_output([1, 2, 3, 4], 4)) == 0


def test_the_last_request_still_in_flight_at_the_stop_is_not_lost():
    assert lost(ping_output([1, 2, 3], 4)) == 0


def test_gaps_and_unanswered_requests_at_the_end_are_lost():
    assert lost(ping_output([1, 2, 5, 6], 9)) == 2 + 2


def test_an_unreachable_line_is_not_a_reply():
    out = ping_output([1, 3], 3).replace(
        "PING 100.64.0.1 (100.64.0.1) 56(84) bytes of data.",
        "PING 100.64.0.1 (100.64.0.1) 56(84) bytes of data.\n"
        "[1796185244.5] From 100.64.0.9 icmp_seq=2 Destination Host Unreachable")
    assert lost(out) == 1


def test_no_reply_at_all_loses_everything_sent():
    assert lost(ping_output([], 5)) == 5


def _log(count=0, lines=(), overwritten=0, error=None):
    import collections

    from bench.probes import KernelLog
    k = KernelLog.__new__(KernelLog)
    k.count, k.overwritten, k.error = count, overwritten, error
    k.lines = collections.Counter(dict(lines))
    return k


def test_the_kernel_log_summary_names_the_lines_and_what_it_could_not_count():
    assert _log().summary() == "0 (the kernel rate-limits them: at least that many)"
    said = _log(3, [("arp_cache: neighbor table overflow!", 3)], overwritten=2).summary()
    assert said.startswith("3 (") and "2 records overwritten before read" in said
    assert said.endswith(": 3 x 'arp_cache: neighbor table overflow!'")
    assert _log(error="/dev/kmsg not read: denied").summary() == \
        "unknown (/dev/kmsg not read: denied)"
