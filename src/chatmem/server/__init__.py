"""HTTP: the Zep 0.x REST API over the memory layer."""

from chatmem.server.app import create_app

__all__ = ["create_app"]
