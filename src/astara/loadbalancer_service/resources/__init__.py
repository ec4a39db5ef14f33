"""Business rules of each Octavia resource: create, update, delete.

The service calls these inside one write transaction with an ``Op`` (session,
caller, notifier, settings) and clean values from ``attributes``; they return rows
and queue notifications. No HTTP here: whatever needs the network API (the VIP
port, a member's subnet) is resolved before the transaction opens.
"""
