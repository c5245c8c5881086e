"""The request plans of every SDK operation: pure functions from arguments to a ``Call``/``Paged``."""
