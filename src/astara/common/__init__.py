"""Pieces every Astara service shares: configuration options and their loading."""
