"""The compute service (asterias architecture): Nova v2.1-compatible API over the database.

The API (``api``/``service``) records intent and queues ``jobs``; the per-host ``agent``
runs them with a ``backend`` (network namespaces plugged into per-network bridges) and
publishes ``compute.instance.*`` events through the outbox; the ``dispatcher`` is the only
writer of instance state and applies those events with the pure ``transitions.apply``.
"""
