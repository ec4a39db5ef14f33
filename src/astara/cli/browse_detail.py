"""The detail pane of ``astara-ctl browse``, pure: one RPC view to lines of text.

It shows what the orchestrator's view holds: the appliance (instance, management
address, the last status check and whether the last pass found it healthy, the
config digest), what the appliance last reported (config applied, interfaces,
services: ``orchestrator.appliance_view``), floating IPs, a load balancer's VIP and
statuses, and the last plan steps.
"""

from __future__ import annotations

import time

from astara.cli.browse_rows import one_line

STEPS = 10  # the RPC views carry the last 10 steps


def _clock(at: object) -> str:
    if not isinstance(at, int | float):
        return "-"
    return time.strftime("%H:%M:%S", time.gmtime(at))


def _reported(report: object) -> list[str]:
    """The appliance as it last reported (``orchestrator.appliance_view``)."""
    if not isinstance(report, dict):
        return ["appliance report: none yet"]
    out = [f"appliance report: config {report.get('config_digest') or '-'}, "
           f"{report.get('applies', 0)} applies"
           + (f", HA {report['ha_role']}" if report.get("ha_role") else "")
           + (f", last apply error: {one_line(report['last_error'])}"
              if report.get("last_error") else "")]
    interfaces = [i for i in report.get("interfaces") or [] if isinstance(i, dict)]
    if interfaces:
        out.append("  interfaces: " + "; ".join(
            f"{i.get('ifname')} {'up' if i.get('up') else 'DOWN'} "
            f"{' '.join(i.get('addresses') or []) or '-'}" for i in interfaces))
    services = [sv for sv in report.get("services") or [] if isinstance(sv, dict)]
    if services:
        out.append("  services: " + ", ".join(
            f"{sv.get('name')} {'ok' if sv.get('healthy') else 'FAILING'}" for sv in services))
    return out


def lines(view: dict) -> list[str]:
    kind = view.get("kind") or "router"
    out = [f"{kind} {view.get('id')}  tenant {view.get('tenant_id') or '-'}",
           f"status {view.get('status') or '-'}  state {view.get('state') or '-'}  "
           f"healthy {'yes' if view.get('healthy') else 'no'}"]
    check = view.get("check") if isinstance(view.get("check"), dict) else None
    out.append(f"appliance {view.get('instance_id') or '-'}  management "
               f"{view.get('management_address') or '-'}  last status check "
               + (f"{'answered' if check.get('ok') else 'no answer'} at "
                  f"{_clock(check.get('at'))} UTC" if check else "-"))
    out.append(f"config digest {view.get('config_digest') or '-'}  floating IPs "
               f"{', '.join(map(str, view.get('floating_ips') or [])) or '-'}")
    if kind == "loadbalancer":
        out.append(f"VIP {view.get('vip_address') or '-'}  listeners "
                   f"{view.get('listeners') if view.get('listeners') is not None else '-'}  "
                   f"provisioning {view.get('provisioning_status') or '-'}  operating "
                   f"{view.get('operating_status') or '-'}")
    if view.get("last_error"):
        out.append(f"last error: {one_line(view['last_error'])}")
    out.extend(_reported(view.get("appliance")))
    steps = [s for s in view.get("steps") or [] if isinstance(s, dict)][-STEPS:]
    out.append("last steps:" if steps else "last steps: none yet")
    for s in reversed(steps):
        error = f"  error: {one_line(s['error'])}" if s.get("error") else ""
        out.append(f"  {_clock(s.get('at'))}  {s.get('step')}  {s.get('status')}  "
                   f"{s.get('outcome')}  {one_line(s.get('reason') or '')}{error}")
    return out
