#!/usr/bin/python3
"""Test-only stand-in for busybox `wget -q -O /dev/null URL` (the nats healthcheck): GET the last
argument, exit 0 on a 2xx answer and 1 otherwise."""

import sys
import urllib.error
import urllib.request


def main() -> int:
    url = sys.argv[-1]
    if not url.startswith("http://"):
        return 2
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - http only, checked above
            resp.read()
    except (urllib.error.URLError, OSError):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
