"""The version of chatmem, shared by the server and the SDK (both distributions are built from one tree)."""

__version__ = "0.1.0"
