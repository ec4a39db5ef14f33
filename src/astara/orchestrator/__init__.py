"""The orchestrator: notifications in, healthy configured appliances out.

intake (message -> keys) -> scheduler (key -> worker) -> worker (dirty-key queue)
-> reconcile (observe, build desired with a driver, pure plan) -> executor (I/O).
"""
