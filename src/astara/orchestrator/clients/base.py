"""The Protocols the reconciler depends on, and the errors they raise."""

from __future__ import annotations

from typing import Protocol

from astara.orchestrator.drivers.router import RouterModel
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.model import Appliance, Instance
from astara.wire.appliance_config import ApplianceConfig


class RemoteError(Exception):
    """A remote API failed in a way worth retrying (transport error, 5xx, 409)."""


class NetworkAPI(Protocol):
    def router_model(self, router_id: str) -> RouterModel | None: ...

    def routers(self) -> list[ResourceRef]: ...

    def routers_on_network(self, network_id: str) -> list[ResourceRef]: ...

    def set_router_status(self, router_id: str, status: str) -> None: ...

    def set_port_status(self, port_id: str, status: str) -> None:
        """As an admin (``status`` is admin-writable); a port gone meanwhile is no error."""

    def management_port(self, router_id: str, create: bool) -> dict | None: ...

    def delete_management_port(self, router_id: str) -> None: ...


class ComputeAPI(Protocol):
    def find(self, router_id: str, macs: dict[str, str]) -> Instance | None:
        """The router's appliance instance; ``macs`` maps MAC -> port id to name its ports."""

    def boot(self, router_id: str, port_ids: list[str], request_id: str) -> str:
        """Boot the appliance; the same ``request_id`` again returns the same instance."""

    def delete(self, instance_id: str) -> None: ...

    def attach(self, instance_id: str, port_id: str) -> None: ...

    def detach(self, instance_id: str, port_id: str) -> None: ...


class ApplianceAPI(Protocol):
    """``appliance_id`` is the appliance's compute instance id: its credential."""

    def status(self, address: str, appliance_id: str) -> Appliance: ...

    def probe(self, address: str, appliance_id: str) -> bool:
        """Does the appliance still answer on its management address at all?"""

    def push(self, address: str, appliance_id: str, config: ApplianceConfig) -> None: ...
