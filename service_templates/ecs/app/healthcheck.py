"""Container health check: exit 0 if the server answers GET /health with 200.

Used by the Dockerfile's HEALTHCHECK and the task definition's healthCheck:
    python -m app.healthcheck
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def check(port: str | None = None, path: str = "/health", timeout: float = 2.0) -> bool:
    url = f"http://127.0.0.1:{port or os.environ.get('PORT') or '8080'}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main() -> int:
    return 0 if check() else 1


if __name__ == "__main__":
    sys.exit(main())
