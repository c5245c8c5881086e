"""The image's HEALTHCHECK: exit 0 when chatmem's /readyz answers 200, else 1 (with the reason).

Standard library only (the image has no curl). It asks the port the server listens on in this
container, CHATMEM_PORT."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('CHATMEM_PORT', '8000')}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(f"not ready: {exc.code} {exc.read().decode(errors='replace')}", file=sys.stderr)
    except OSError as exc:
        print(f"not answering: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
