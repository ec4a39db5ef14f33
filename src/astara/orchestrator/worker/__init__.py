"""Workers: per-process dirty-key queues and the tasks that drain them."""
