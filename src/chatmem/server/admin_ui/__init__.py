"""The admin web page at ``/admin`` (docs/admin.md)."""

from chatmem.server.admin_ui.app import AdminUI, admin_dispatch

__all__ = ["AdminUI", "admin_dispatch"]
