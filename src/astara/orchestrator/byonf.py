"""BYONF (bring your own network function): the image and flavor a resource boots with.

``choose`` is pure: whether ``[DEFAULT] enable_byonf`` is on, the resource's kind and
project (from its own record, never a notification), the project's entries as the
network API's ``/v2.0/byonfs`` lists them, and the defaults (``[orchestrator]
appliance_image``/``appliance_flavor``) in; the ``BootSpec`` out. ``BootSpecs`` is its
edge: the observer asks it, before a boot may be decided, which spec that boot would use
and whether the compute API knows its image and flavor (a plan in ERROR otherwise).
An entry changed later takes effect at the next boot (a rebuild), never on a running
appliance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from astara.orchestrator.clients.base import ComputeAPI, NetworkAPI

LOG = logging.getLogger(__name__)

# The entries' function_type for each resource kind the orchestrator serves.
FUNCTION_TYPES = {"router": "router", "loadbalancer": "loadbalancer"}
COLLECTION = "byonfs"


@dataclass(frozen=True)
class BootSpec:
    image: str
    flavor: str
    source: str = "default"  # or "byonf <id>": said in logs and errors


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def choose(enabled: bool, kind: str, project_id: str | None, entries: list[dict],
           default: BootSpec) -> BootSpec:
    """The spec of the project's entry for ``kind`` (its flavor None: the default
    flavor), else ``default``. The API keeps one entry per (project, function_type);
    should several come, the smallest id wins, so every worker picks the same."""
    function_type = FUNCTION_TYPES.get(kind)
    if not enabled or not project_id or function_type is None:
        return default
    mine = sorted((e for e in entries if isinstance(e, dict)
                   and (e.get("project_id") or e.get("tenant_id")) == project_id
                   and e.get("function_type") == function_type
                   and _text(e.get("image_uuid"))), key=lambda e: str(e.get("id")))
    if not mine:
        return default
    entry = mine[0]
    return BootSpec(image=entry["image_uuid"],
                    flavor=_text(entry.get("flavor_id")) or default.flavor,
                    source=f"byonf {entry.get('id')}")


class BootSpecs:
    """Which spec a resource's next boot uses, and what keeps it from booting."""

    def __init__(self, network: NetworkAPI, compute: ComputeAPI, default: BootSpec,
                 enabled: bool):
        self.network, self.compute = network, compute
        self.default, self.enabled = default, enabled

    def resolve(self, kind: str, project_id: str | None) -> tuple[BootSpec, str | None]:
        """(spec, None), or (spec, why it cannot boot): an image or flavor the compute
        API does not know. RemoteError when an API cannot be asked."""
        entries: list[dict] = []
        function_type = FUNCTION_TYPES.get(kind)
        if self.enabled and project_id and function_type is not None:
            entries = self.network.list(COLLECTION, tenant_id=project_id,
                                        function_type=function_type)
        spec = choose(self.enabled, kind, project_id, entries, self.default)
        missing = self.compute.missing(spec.image, spec.flavor)
        if missing is None:
            return spec, None
        return spec, f"{missing} (image and flavor from {spec.source})"
