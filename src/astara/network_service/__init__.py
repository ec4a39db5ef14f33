"""The network service: a Neutron v2.0-compatible API over Astara's database.

Requests flow ``api`` (HTTP, request context) → ``attributes`` (validation as
Neutron does it) → ``resources/*`` (business rules, IPAM) → ``models`` (tables),
and every write adds its Neutron-format notification through ``notifier`` to the
bus in the same transaction.
"""
