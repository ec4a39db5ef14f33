"""Command-line entry points: each parses options into settings and runs one thing."""
