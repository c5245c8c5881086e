"""The endpoints of every SDK operation: pure functions from arguments to a ``Call``/``Paged``."""
