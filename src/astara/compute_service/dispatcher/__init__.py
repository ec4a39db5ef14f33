"""The dispatcher process: the only writer of instance state.

``consumer`` reads the agents' events from the outbox and applies each with the pure
``transitions.apply`` under a row lock; what it cannot apply is dead-lettered.
"""
