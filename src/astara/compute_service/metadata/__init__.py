"""The metadata process: Nova's metadata API behind a trusted, signing proxy.

``routes`` checks the proxy's signature and loads the instance; ``content`` builds the
OpenStack and EC2 documents from it (pure).
"""
