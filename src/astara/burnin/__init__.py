"""``astara-burnin``: the end-to-end proof, acting as a user through the public APIs."""
