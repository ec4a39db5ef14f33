"""The Protocols the reconciler depends on, and the errors they raise."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from astara.orchestrator.clients.router_model import RouterModel
from astara.orchestrator.keys import ResourceRef
from astara.orchestrator.reconcile.model import Appliance, ApplianceIdentity, Instance
from astara.wire.appliance_config import ApplianceConfig
from astara.wire.tenure import Tenure

if TYPE_CHECKING:
    from astara.orchestrator.byonf import BootSpec


class RemoteError(Exception):
    """A remote API failed in a way worth retrying (transport error, 5xx, 409)."""


class NotKnown(RemoteError):
    """The compute API knows no image or flavor by that id or name: no boot with it
    can succeed until someone changes the configuration or the BYONF entry."""


class ConfigRefused(RemoteError):
    """An appliance answered a config push with a refusal (not a transport failure):
    the document, as built, does not apply there."""


class Fenced(RemoteError):
    """An appliance refused a push's lease epoch (409): it accepted a newer one, so
    another member owns the resource now (``wire.tenure``), or our database's epochs
    went backwards. ``accepted``: the epoch the appliance holds, when it said."""

    def __init__(self, message: str, accepted: int | None = None):
        super().__init__(message)
        self.accepted = accepted


class NetworkAPI(Protocol):
    def router_model(self, router_id: str) -> RouterModel | None: ...

    def routers(self) -> list[ResourceRef]: ...

    def router_project(self, router_id: str) -> str | None: ...

    def routers_on_network(self, network_id: str) -> list[ResourceRef]: ...

    def set_router_status(self, router_id: str, status: str) -> None: ...

    def set_port_status(self, port_id: str, status: str) -> bool:
        """As an admin (``status`` is admin-writable); a port gone meanwhile is no error.
        False: nothing was written, the API keeps port status itself (a real Neutron)."""

    def management_port(self, router_id: str, create: bool, absent: bool = False
                        ) -> dict | None:
        """The management port of ``router_id`` (made if ``create``); ``absent``: the
        caller's look just found none, so it is made without asking again."""

    def delete_management_port(self, router_id: str) -> None: ...

    def management_device_ids(self) -> list[str]:
        """The ``device_id`` of every management port (an appliance's resource id)."""

    def ha_ports(self, member_id: str) -> list[dict]:
        """An HA router's second member's ports on its data networks (``device_id``)."""

    def create_ha_port(self, member_id: str, network_id: str) -> dict:
        """One more such port: no address, no port security (it carries the router's
        addresses when its member is master)."""

    def delete_port(self, port_id: str) -> None:
        """As an admin; a port gone meanwhile is no error."""

    def show(self, collection: str, id_: str) -> dict | None:
        """``GET /v2.0/<collection>/<id>`` as an admin: the object, None if it is gone."""

    def list(self, collection: str, **filters: str | list[str]) -> list[dict]:
        """``GET /v2.0/<collection>?<filters>`` as an admin: the objects ([] when the
        API has no such collection, e.g. a Neutron without the extension)."""


class ComputeAPI(Protocol):
    def find(self, who: ApplianceIdentity, macs: dict[str, str]) -> Instance | None:
        """The resource's appliance instance; ``macs`` maps MAC -> port id to name its
        ports."""

    def boot(self, who: ApplianceIdentity, port_ids: list[str], request_id: str,
             spec: BootSpec | None = None, different_host: tuple[str, ...] = (),
             group: str | None = None) -> str:
        """Boot the appliance (from ``spec``'s image and flavor; None: the configured
        ones); the same ``request_id`` again returns the same instance. ``different_host``:
        instances it should not share a host with, ``group``: the server group it joins
        (Nova's scheduler hints)."""

    def server_group(self, name: str, create: bool) -> tuple[str, tuple[str, ...]] | None:
        """The caller's soft-anti-affinity server group named ``name`` (id, members),
        made if missing and ``create``; None: none (or the compute API has no groups)."""

    def delete_server_group(self, name: str) -> None:
        """Delete the caller's server group(s) named ``name``; none is no error."""

    def missing(self, image: str, flavor: str) -> str | None:
        """Why a boot from this image and flavor cannot succeed (one of them is not
        known to the compute API), or None."""

    def delete(self, instance_id: str) -> None: ...

    def named(self, pattern: str, metadata_key: str) -> dict[str, list[str]]:
        """Instances whose name matches the regular expression ``pattern`` (Nova's name
        filter) and whose metadata has ``metadata_key``: that value -> their ids."""

    def attach(self, instance_id: str, port_id: str) -> None: ...

    def detach(self, instance_id: str, port_id: str) -> None: ...


class ApplianceAPI(Protocol):
    """``appliance_id`` is the appliance's compute instance id: its credential."""

    def status(self, address: str, appliance_id: str) -> Appliance: ...

    def probe(self, address: str, appliance_id: str) -> bool:
        """Does the appliance still answer on its management address at all?"""

    def push(self, address: str, appliance_id: str, config: ApplianceConfig,
             tenure: Tenure | None = None) -> None:
        """``tenure``: the pushing member's lease (a cluster), refused by the
        appliance (``Fenced``) once it accepted a newer epoch; None: a single node."""

    def record_tenure(self, address: str, appliance_id: str, tenure: Tenure) -> None:
        """Have the appliance record ``tenure``'s epoch, applying nothing (an adopting
        member's): ``Fenced`` when it holds a newer one."""


class LoadBalancerAPI(Protocol):
    """The load-balancer service's admin-only Astara endpoints (and its list), as an admin."""

    def model(self, lb_id: str) -> dict | None:
        """``GET /v2/astara/loadbalancers/{id}/model``; None: the load balancer is gone."""

    def write_statuses(self, lb_id: str, body: dict) -> None:
        """``PUT /v2/astara/loadbalancers/{id}/statuses``; a load balancer gone is no error."""

    def loadbalancers(self) -> list[ResourceRef]: ...

    def project_of(self, lb_id: str) -> str | None: ...

    def vip_ports(self) -> list[ResourceRef]:
        """``GET /v2/astara/vip_ports``: deleted load balancers whose VIP port is kept."""

    def release_vip_ports(self, lb_id: str) -> None:
        """``DELETE /v2/astara/loadbalancers/{id}/vip_port`` (its appliance is gone)."""
