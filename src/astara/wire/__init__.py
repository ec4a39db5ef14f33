"""Contracts shared by the orchestrator and the appliance agent."""

from astara.wire.appliance_config import (
    CONFIG_VERSION,
    Allocation,
    ApplianceConfig,
    FloatingIP,
    HighAvailability,
    HostRoute,
    Interface,
    Network,
    Orchestrator,
    Route,
    Subnet,
)
from astara.wire.appliance_status import ApplianceStatus
from astara.wire.document import DocumentError, parse_config

__all__ = [
    "CONFIG_VERSION",
    "Allocation",
    "ApplianceConfig",
    "ApplianceStatus",
    "DocumentError",
    "FloatingIP",
    "HighAvailability",
    "HostRoute",
    "Interface",
    "Network",
    "Orchestrator",
    "Route",
    "Subnet",
    "parse_config",
]
