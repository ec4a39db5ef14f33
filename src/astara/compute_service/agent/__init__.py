"""The per-host agent process: runs this host's jobs and reports what happened.

``worker`` claims jobs and runs them with a ``backend`` (the Protocol; ``netns`` is the
default one: namespaces, veths and bridges through a ``runner``, with ``antispoof``
chains, ``profiles`` of what starts inside and tenant HTTP ``responders``, forked by the
``responder`` zygote), publishes ``compute.instance.*`` events, and ``reconcile``
compares this host's instances with what the backend observes.
"""
