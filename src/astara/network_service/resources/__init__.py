"""Business rules of each Neutron resource: create, update, delete, read.

Handlers call these with a DB session, the request context, and clean values
from ``attributes``; they return rows and queue notifications on the
``Notifier`` they are given. No HTTP here.
"""
