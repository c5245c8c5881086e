"""Version strings: chatmem's own, and the Zep server version it is wire-compatible with."""

from __future__ import annotations

from chatmem_client.version import __version__ as __version__

ZEP_COMPAT_VERSION = "0.27.2"
# The Zep SDKs read the part before the first "-" and need it to be >= 0.21.0.
ZEP_VERSION_HEADER = f"{ZEP_COMPAT_VERSION}-chatmem ({__version__})"
