"""Neutron ``device_owner`` labels the network service and the orchestrator both name.

The orchestrator finds an appliance's management port, a router's interfaces and its
gateway by these labels (on our network service or a real Neutron); the network
service's port policy decides who may set them. One definition, so the two sides
cannot drift apart.
"""

INTERFACE = "network:router_interface"
GATEWAY = "network:router_gateway"
MGMT_OWNER = "network:astara_management"  # the appliance's port on the management network
