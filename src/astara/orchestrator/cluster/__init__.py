"""Active/active orchestrators: membership (tooz), the hash ring, per-resource leases.

``settings`` holds the ``[coordination]`` options; ``ring`` decides purely who owns a
resource; ``membership`` is the tooz edge; ``leases`` the fencing rows in our database;
``ownership`` ties them together for the orchestrator's parent process, and ``fence`` is
what a worker asks before a step that acts.
"""
