"""Who may do what: tenants, API keys and their roles, Zep-compatible JWTs.

Below the server (which authenticates every request with it) and above the memory layer.
"""
