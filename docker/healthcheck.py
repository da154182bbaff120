#!/usr/bin/env python3
"""Container health check: exit 0 when GET /health answers 200 (models loaded, worker running).

Reads SPECVLM_HOST / SPECVLM_PORT as `specvlm serve` does, so set the port by environment,
not by a `--port` flag, when the health check matters.
"""

import os
import sys
import urllib.request


def main() -> int:
    host = os.environ.get("SPECVLM_HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = os.environ.get("SPECVLM_PORT") or "8000"
    url = f"http://{host}:{port}/health"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via HTTP(S)_PROXY
    try:
        with opener.open(url, timeout=float(os.environ.get("SPECVLM_HEALTHCHECK_TIMEOUT", "4"))) as reply:
            ok = reply.status == 200
    except Exception as exc:  # 503 while loading, connection refused while starting
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
