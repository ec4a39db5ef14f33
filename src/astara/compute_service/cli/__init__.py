"""Entry points of the compute service: API server, agent, dispatcher and manage commands."""
