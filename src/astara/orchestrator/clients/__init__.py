"""The orchestrator's edges: the network, compute and load-balancer APIs, the appliances.

Each is a small Protocol with an HTTP implementation that works against
Astara's embedded services and a real OpenStack, and an in-tree fake
(``fakes.py``) that records the calls made, for tests.
"""
