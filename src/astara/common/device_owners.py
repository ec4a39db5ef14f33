"""Neutron ``device_owner`` labels the network service and the orchestrator both name.

The orchestrator finds an appliance's management port, a router's interfaces and its
gateway by these labels (on our network service or a real Neutron), and plugs a load
balancer's VIP port (made by the load-balancer service, owned ``Octavia`` as Octavia
labels it); the network service's port policy decides who may set them. One
definition, so the two sides cannot drift apart.
"""

INTERFACE = "network:router_interface"
GATEWAY = "network:router_gateway"
MGMT_OWNER = "network:astara_management"  # the appliance's port on the management network
# An HA router's second appliance's port on each of its networks (Neutron's label for a
# router's HA port; no address: the master holds the router's).
HA_INTERFACE = "network:router_ha_interface"
LOADBALANCER_VIP = "Octavia"  # a load balancer's VIP port (device_id "lb-<id>")
# Service ports outside ``network:*``: the compute API lets only an admin (the
# orchestrator) plug them, and never re-owns them.
SERVICE_OWNERS = (LOADBALANCER_VIP,)


def is_service_owner(owner: str) -> bool:
    return owner.startswith("network:") or owner in SERVICE_OWNERS
