"""Drivers: one pure builder per resource kind, network model in, appliance document out."""
