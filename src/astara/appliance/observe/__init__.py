"""Observation of an appliance's network stack: plain data for the planner."""
