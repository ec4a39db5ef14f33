"""The load-balancer service: an Octavia v2-compatible API over Astara's database.

Requests flow ``api`` (HTTP, identity, Octavia's error bodies) → ``attributes``
(validation as Octavia's types do it, pure) → ``service`` (one transaction per
call) → ``resources/*`` (business rules) → ``models`` (tables), and every write
adds its neutron-lbaas-format notification through ``notifier`` to the bus in the
same transaction. Reads build views in ``reads`` (relation ids, the orchestrator's
model, the status tree) and page lists in SQL in ``paging`` where they can. The
orchestrator's status report is parsed in ``statuses`` (pure) and written by
``resources.status_report``. A load balancer's VIP port is made through the network
API (``network``) with the caller's identity; which port it is comes from our record.
"""
