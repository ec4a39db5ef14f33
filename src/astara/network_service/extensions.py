"""``GET /v2.0/extensions`` and ``/v2.0/extensions/{alias}``: what the network API honours.

Clients (Horizon, openstacksdk, Heat) offer a feature when its alias is listed, so
an alias is listed only when its attributes and behaviour are implemented: each
entry says what honours it, and ``tests/integration/network/test_extensions.py``
exercises every listed alias. Not listed although Neutron has them: ``agent`` (no
agents API), ``provider`` (the provider attributes are stored, but a network's
L2 is always our bridge).
``lbaasv2`` is listed only by an app serving those paths (``app.state.extensions``,
see ``network_service.lbaasv2``).
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from astara.network_service import errors

UPDATED = "2026-01-01T00:00:00-00:00"

# alias -> (name, what honours it)
EXTENSIONS: dict[str, tuple[str, str]] = {
    "allowed-address-pairs": ("Allowed Address Pairs",
                              "Extra addresses a port may send from (compute anti-spoofing)."),
    "binding": ("Port Binding", "binding:host_id places a port on a compute host."),
    "astara-port-bindings": ("Astara port bindings",
                             "Admin only: PUT /v2.0/astara_port_bindings binds several "
                             "ports to hosts in one transaction (the compute service's "
                             "boot), each as PUT /v2.0/ports/{id} with binding:host_id "
                             "would."),
    "byonf": ("Bring your own network function",
              "Admin only: /v2.0/byonfs gives a project its own appliance image and flavor "
              "for routers or load balancers (used when the orchestrator's enable_byonf is "
              "true)."),
    "external-net": ("Neutron external network",
                     "router:external networks hold router gateways and floating IPs."),
    "ext-gw-mode": ("Neutron L3 Configurable external gateway mode",
                    "enable_snat=false: the router does not masquerade its subnets."),
    "extraroute": ("Neutron Extra Route",
                   "Router routes, installed in the router's appliance."),
    "fields": ("Fields", "fields= selects the attributes of an answer."),
    "filter-validation": ("Filter parameters validation",
                          "An unknown filter is refused with 400."),
    "l3-ha": ("HA Router extension",
              "Admin only: ha=true on a router makes the orchestrator run it as a VRRP "
              "pair of appliances (docs/ha.md)."),
    "net-mtu": ("Network MTU", "A network's mtu, set on the router's interfaces."),
    "pagination": ("Pagination support", "limit, marker and page_reverse, with links."),
    "port-security": ("Port Security",
                      "port_security_enabled=false lifts a port's anti-spoofing."),
    "project-id": ("project_id field enabled", "Resources carry project_id."),
    "router": ("Neutron L3 Router",
               "Routers with a gateway, interfaces and floating IPs, served by appliances."),
    "sorting": ("Sorting support", "sort_key and sort_dir."),
    "standard-attr-description": ("standard-attr-description",
                                  "Resources carry a description."),
    "standard-attr-revisions": ("Resource revision numbers",
                                "revision_number grows with each change."),
    "standard-attr-timestamp": ("Resource timestamps",
                                "created_at, updated_at and the changed_since filter."),
}


def _served(request: Request) -> dict[str, tuple[str, str]]:
    """What this app serves: ``EXTENSIONS`` and those of its optional paths (``lbaasv2``)."""
    return getattr(request.app.state, "extensions", EXTENSIONS)


def _view(alias: str, served: dict[str, tuple[str, str]]) -> dict:
    name, description = served[alias]
    return {"alias": alias, "name": name, "description": description, "updated": UPDATED,
            "links": []}


async def index(request: Request) -> Response:
    served = _served(request)
    return JSONResponse({"extensions": [_view(alias, served) for alias in sorted(served)]})


async def show(request: Request) -> Response:
    alias = request.path_params["alias"]
    served = _served(request)
    if alias not in served:
        err = errors.ResourceNotFound(
            message=f"Extension with alias {errors.shorten(alias)} does not exist",
            type_="HTTPNotFound")
        # ASCII escapes: whatever the alias holds, rendering it cannot fail.
        return Response(json.dumps(err.body()), status_code=404, media_type="application/json")
    return JSONResponse({"extension": _view(alias, served)})
