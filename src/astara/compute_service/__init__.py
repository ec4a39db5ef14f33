"""The compute service (asterias architecture): Nova v2.1-compatible API over the database.

One sub-package per process: the API (``api``) records intent and queues ``jobs``; the
per-host ``agent`` runs them with a backend (network namespaces plugged into per-network
bridges) and publishes ``compute.instance.*`` ``events`` through the outbox; the
``dispatcher`` is the only writer of instance state and applies those events with the pure
``transitions.apply``; ``metadata`` serves instances their metadata; ``burnin`` proves a
deployment end to end. Shared beside them: ``models``, ``events``, ``jobs``, ``catalog``,
``transitions``, ``settings``/``opts``. Entry points are ``astara.cli.compute_*``.
"""
