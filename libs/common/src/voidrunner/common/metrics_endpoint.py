"""A service's Prometheus endpoint: `/metrics` on a port of its own, never on a public one.

The scrape is served by prometheus-client's own threaded HTTP server, so a slow or stormy scraper
never waits on (or stalls) the service's event loop; the metrics themselves are plain counters
that the request path updates without I/O.
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from voidrunner.common.logs import get_logger

_log = get_logger("voidrunner.metrics")


class MetricsEndpoint:
    """Serves the process's registry on `host:port` between `start()` and `stop()`.

    `port=None` serves nothing (the default outside the deploy configurations, so tests and
    several services in one process never race for a fixed port); `port=0` takes a free one.
    """

    def __init__(self, host: str, port: int | None) -> None:
        self._host = host
        self._port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int | None:
        """Start serving; returns the bound port, or None when metrics are off."""
        if self._port is None:
            return None
        self._server, self._thread = start_http_server(self._port, addr=self._host)
        port = int(self._server.server_port)
        _log.info("metrics serving", address=f"{self._host}:{port}")
        return port

    @property
    def port(self) -> int | None:
        """The bound port while serving."""
        return None if self._server is None else int(self._server.server_port)

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
