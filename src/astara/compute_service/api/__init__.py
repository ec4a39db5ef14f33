"""The compute API process: Nova v2.1 routes over the database, stateless.

``app`` assembles it; ``routes`` holds the thin handlers, which parse (``microversion``,
``context``, ``inbound``, ``bodies``, ``list_query``, ``name_filter``), hand the work to
``service`` (one transaction per call: intent, ``placement``, ``ports`` through ``network``,
a queued job) and render (``views``, ``actions``, ``paging``) or answer a Nova fault
(``errors``). It never touches an instance: the agent does.
"""
