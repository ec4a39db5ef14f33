"""Neutron LBaaS v2 on the network API: ``/v2.0/lbaas/...`` served by the load-balancer
service's own service layer and tables (one truth with the Octavia API).

Thin edges only: ``bodies`` turns a neutron-lbaas request body into the values the
Octavia API would pass on, ``views`` turns the service's views into neutron-lbaas's,
``faults`` its errors into ``NeutronError`` bodies, ``routes`` serves the paths and
``local_network`` lets the service make VIP ports through this process's network
service. Enabled with ``[loadbalancer_service] neutron_lbaasv2``.
"""
