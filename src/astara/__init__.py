"""Astara: a network services orchestrator for clouds."""

__version__ = "0.1.0"
