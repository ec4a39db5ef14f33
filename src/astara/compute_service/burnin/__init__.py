"""The compute burn-in: proves a deployment works through its public APIs.

``scenario`` walks the steps; ``client`` is its only way in (compute, network and
metadata APIs over HTTP); ``probe`` is its eye on the data plane (a namespace on a
network's bridge, root).
"""
