"""``plan(observed, settings) -> Decision``: the next documented step for one router.

Pure: no I/O, no clock (``observed.now``), no config reads. The executor performs
the chosen step; the outcome says when to look again. Failed boots are counted;
after ``reboot_error_threshold`` the router is in ERROR for a cooldown that
doubles on each new error (capped), then it retries by itself (ClearError). A boot
that cannot succeed (``boot_problem``: an image or flavor the compute API does not
know) is ERROR at once, with nothing made.
"""

from __future__ import annotations

from dataclasses import replace

from astara.orchestrator.reconcile import silence
from astara.orchestrator.reconcile.model import (
    REPLUG_WAIT,
    Decision,
    Memory,
    Observed,
    Outcome,
    OutcomeKind,
    Rebuild,
    Settings,
    Status,
    Step,
)

DONE = Outcome(OutcomeKind.DONE)
TERMINAL = Outcome(OutcomeKind.TERMINAL)


def _after(seconds: float) -> Outcome:
    return Outcome(OutcomeKind.REQUEUE, seconds)


def _boot_wait(instance_status: str | None, booting_for: float, s: Settings) -> float:
    """When to look again at a booting appliance. Until its instance is ACTIVE the
    compute service's notification wakes the router, so this is only a safety net;
    once ACTIVE the agent's first answer is near: look again soon, backing off with
    the time the boot has taken so far (a silent agent costs few looks)."""
    safety_net = 4 * s.boot_check_interval
    if instance_status != "ACTIVE":
        return safety_net
    return min(safety_net, max(s.boot_check_interval / 10, booting_for / 4))


def _cooldown(memory: Memory, s: Settings) -> float:
    return min(s.max_error_cooldown, s.error_cooldown * (2 ** memory.error_count))


def _with(m: Memory, **changes) -> Memory:
    """``replace`` that keeps ``m`` when nothing changes (a healthy router's every pass)."""
    return m if all(getattr(m, k) == v for k, v in changes.items()) else replace(m, **changes)


def _failed(m: Memory) -> Memory:
    return replace(m, failed_boots=m.failed_boots + 1, boot_started=None, active_since=None)


def plan(o: Observed, s: Settings) -> Decision:
    m = o.memory
    inst = o.instance
    live = inst is not None and not inst.deleting and inst.status != "DELETED"

    def d(step: Step, status: Status, outcome: Outcome, reason: str, memory: Memory = m,
          rebuild: Rebuild | None = None):
        return Decision(step, status, outcome, reason, memory, rebuild)

    if o.debug:
        return d(Step.EXIT, Status.DOWN, DONE, "debug mode: left alone")
    if not o.exists:
        if live:
            return d(Step.STOP_VM, Status.GONE, _after(s.boot_check_interval),
                     "router deleted: removing its appliance")
        if inst is not None:
            return d(Step.CHECK_BOOT, Status.GONE, _after(s.boot_check_interval),
                     "waiting for the appliance to disappear")
        return d(Step.EXIT, Status.GONE, TERMINAL, "router and appliance gone", Memory())
    if not o.admin_up:
        if live:
            return d(Step.STOP_VM, Status.DOWN, _after(s.boot_check_interval),
                     "router administratively down")
        return d(Step.EXIT, Status.DOWN, DONE, "router administratively down")
    if m.error_until is not None:
        if o.now < m.error_until and not o.force_rebuild:
            return d(Step.EXIT, Status.ERROR, _after(m.error_until - o.now),
                     f"in error after {m.failed_boots} failed boots: {m.last_error}")
        return d(Step.CLEAR_ERROR, Status.DOWN, _after(0), "error cooldown over: retrying",
                 replace(m, failed_boots=0, error_until=None, boot_started=None))
    if o.force_rebuild and live and o.split_brain:
        return d(Step.STOP_VM, Status.RESTART, _after(s.boot_check_interval),
                 "split brain: restarting this HA member", replace(m, boot_started=None),
                 Rebuild.SPLIT_BRAIN)
    if o.force_rebuild and live:
        return d(Step.STOP_VM, Status.RESTART, _after(s.boot_check_interval),
                 "rebuild requested", replace(m, boot_started=None), Rebuild.OPERATOR)
    if o.outdated and live:  # asked through the resource's API: as an operator's rebuild
        return d(Step.STOP_VM, Status.RESTART, _after(s.boot_check_interval),
                 "failover requested: replacing the appliance", replace(m, boot_started=None),
                 Rebuild.OPERATOR)
    if o.desired_digest is None:
        return d(Step.EXIT, Status.DOWN, _after(s.health_check_period),
                 "no appliance configuration can be built yet")
    if inst is not None and not live:
        return d(Step.CHECK_BOOT, Status.RESTART, _after(s.boot_check_interval),
                 "waiting for the old appliance to disappear")
    if inst is None:
        if o.boot_problem is not None:
            # Not a failed boot to retry: none can succeed until the image or flavor
            # (configuration, or the project's BYONF entry) changes. Nothing is made.
            until = o.now + _cooldown(m, s)
            err = replace(m, error_until=until, error_count=m.error_count + 1,
                          last_error=f"cannot boot: {o.boot_problem}")
            return d(Step.EXIT, Status.ERROR, _after(until - o.now),
                     f"cannot boot: {o.boot_problem}: in error for {until - o.now:.0f} s",
                     err)
        if m.failed_boots >= s.reboot_error_threshold:
            until = o.now + _cooldown(m, s)
            err = replace(m, error_until=until, error_count=m.error_count + 1)
            return d(Step.EXIT, Status.ERROR, _after(until - o.now),
                     f"{m.failed_boots} failed boots: in error for {until - o.now:.0f} s", err)
        return d(Step.CREATE_VM, Status.BOOTING, _after(_boot_wait(None, 0.0, s)),
                 "no appliance: booting one",
                 replace(m, boot_started=o.now, active_since=None, boots=m.boots + 1,
                         silent_count=0, silent_since=None, replug_ports=(),
                         replug_asked=None))
    return _plan_live(o, s, d)


def _plan_live(o: Observed, s: Settings, d) -> Decision:
    m, inst, app = o.memory, o.instance, o.appliance
    assert inst is not None
    reachable = app is not None and app.reachable
    booting_for = o.now - (m.boot_started if m.boot_started is not None else o.now)
    if inst.status == "ERROR":
        return d(Step.STOP_VM, Status.RESTART, _after(s.boot_check_interval),
                 "appliance instance in ERROR: replacing it",
                 replace(_failed(m), last_error="instance in ERROR"), Rebuild.INSTANCE)
    if inst.status == "SHUTOFF":
        return d(Step.STOP_VM, Status.RESTART, _after(s.boot_check_interval),
                 "appliance instance is shut off: replacing it", rebuild=Rebuild.INSTANCE)
    if not reachable:
        if m.boot_started is None:
            return _plan_silent(o, s, d)
        if inst.status == "BUILD":  # the compute service is still making it
            if booting_for < s.build_timeout:
                return d(Step.CHECK_BOOT, Status.BOOTING,
                         _after(_boot_wait(inst.status, booting_for, s)),
                         f"building for {booting_for:.1f} s")
            return d(Step.STOP_VM, Status.RESTART, _after(s.boot_check_interval),
                     f"still building {s.build_timeout:.0f} s after the boot: replacing it",
                     replace(_failed(m), last_error="build timeout"), Rebuild.BOOT_TIMEOUT)
        since = m.active_since if m.active_since is not None else o.now
        if o.now - since < s.boot_timeout:
            return d(Step.CHECK_BOOT, Status.BOOTING,
                     _after(_boot_wait(inst.status, booting_for, s)),
                     f"booting for {booting_for:.1f} s", replace(m, active_since=since))
        return d(Step.STOP_VM, Status.RESTART, _after(s.boot_check_interval),
                 f"no answer {s.boot_timeout:.0f} s after its instance went ACTIVE: "
                 "replacing it",
                 replace(_failed(m), last_error="boot timeout"), Rebuild.BOOT_TIMEOUT)
    calm = _with(m, silent_count=0, silent_since=None)
    if inst.ports != o.wanted_ports:
        asked = m.replug_asked
        if asked is not None and set(m.replug_ports) == o.wanted_ports \
                and 0 <= o.now - asked < REPLUG_WAIT:
            # Asked already: the host's event wakes this router once it is done.
            changed = len(inst.ports ^ o.wanted_ports)
            return d(Step.CHECK_BOOT, Status.REPLUG,
                     _after(min(4 * s.boot_check_interval, asked + REPLUG_WAIT - o.now)),
                     f"waiting for {changed} interface change(s) asked "
                     f"{o.now - asked:.1f} s ago", calm)
        return d(Step.REPLUG_VM, Status.REPLUG, _after(0), "interfaces changed",
                 replace(calm, replug_ports=tuple(sorted(o.wanted_ports)), replug_asked=o.now))
    settled = _with(calm, failed_boots=0, boot_started=None, active_since=None, error_count=0,
                    last_error=None, replug_ports=(), replug_asked=None)
    if app.config_digest != o.desired_digest or not app.healthy:
        why = "configuration changed" if app.config_digest != o.desired_digest \
            else "appliance reports a fault"
        # Look again shortly (one status call) to see it applied and report ACTIVE.
        return d(Step.CONFIGURE_VM, Status.UP, _after(s.boot_check_interval), why, settled)
    return d(Step.ALIVE, Status.CONFIGURED, _after(s.health_check_period), "healthy", settled)


def _plan_silent(o: Observed, s: Settings, d) -> Decision:
    """A booted appliance did not answer its status call this pass."""
    m, inst, app = o.memory, o.instance, o.appliance
    assert inst is not None
    why = app.why() if app is not None else f"instance {inst.status}"
    since = m.silent_since if m.silent_since is not None else o.now
    m = replace(m, silent_count=m.silent_count + 1, silent_since=since)
    n, threshold, span = m.silent_count, s.appliance_failure_threshold, o.now - since
    verdict = silence.judge(m, o.now, silence.still_forwards(inst.status, app), threshold,
                            s.appliance_failure_period)
    if verdict is silence.Verdict.WAIT:
        return d(Step.CALC_ACTION, Status.DEGRADED,
                 _after(silence.spacing(threshold, s.appliance_failure_period,
                                        s.boot_check_interval)),
                 f"appliance did not answer ({why}), {n} of {threshold}: looking again", m)
    if verdict is silence.Verdict.KEEP:
        return d(Step.CALC_ACTION, Status.DEGRADED, _after(s.health_check_period),
                 f"appliance status fails ({why}, {n} times over {span:.0f} s) but it "
                 "still answers on its management address: leaving it in place", m)
    return d(Step.STOP_VM, Status.RESTART, _after(s.boot_check_interval),
             f"appliance stopped answering ({why}, {n} times over {span:.0f} s): "
             "replacing it",
             replace(m, silent_count=0, silent_since=None,
                     last_error=f"appliance unreachable ({why})"), Rebuild.SILENT)
