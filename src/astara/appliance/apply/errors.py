"""Errors of the apply edge, caught by `converge` to roll back and report.

    ApplyError            anything that failed while changing the appliance
    ├── ValidationFailed  a rendered file was refused by its checker (nft -c, dnsmasq --test)
    └── CommandFailed     a tool ran and failed while applying
        └── ExitedAtStart a daemon exited before detaching: no process of it is left
"""

from __future__ import annotations


class ApplyError(RuntimeError):
    pass


class ValidationFailed(ApplyError):
    pass


class CommandFailed(ApplyError):
    pass


class ExitedAtStart(CommandFailed):
    pass
