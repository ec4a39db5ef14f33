"""Level-triggered reconciliation: observe, build desired, pure plan, execute one step."""
