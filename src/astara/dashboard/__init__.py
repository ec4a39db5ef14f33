"""The web dashboard (``astara-dashboard``): a tenant's instances, networks, routers,
floating IPs, load balancers and topology, and an admin's hosts, routers and workers.

It holds no state and reads no database: every page is built from the public APIs
(network, compute, load-balancer, orchestrator RPC) called over HTTP with the logged-in
user's identity (``clients``), turned into plain view models (``views``, ``topology``)
and rendered by Jinja2 templates (``pages``). See docs/dashboard.md.
"""
