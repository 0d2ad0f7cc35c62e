"""A slow HTTP server on loopback: the Orthanc peer that keeps a handler waiting in an SDK call.

Declared to Orthanc as the peer "slow", it answers every GET after ``delay``
seconds with a small JSON body, so that ``RestApiGet('/peers/slow/system')``
inside a handler waits that long in Orthanc's HTTP client.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SlowPeer:
    def __init__(self, delay: float = 1.0) -> None:
        self.delay = delay
        self.arrived = threading.Event()  # set at each request, for a caller to wait on
        self._in_flight = 0
        self._lock = threading.Lock()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                body = b'{"Name": "slow", "Version": "0"}'
                with peer._lock:
                    peer._in_flight += 1
                peer.arrived.set()
                try:
                    time.sleep(peer.delay)
                finally:
                    with peer._lock:  # busy() turns false as the answer leaves
                        peer._in_flight -= 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="slow-peer",
                                        daemon=True)

    def busy(self) -> bool:
        """Whether a request is waiting for this server's answer right now."""
        return self._in_flight > 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def orthanc_peers(self) -> dict[str, Any]:
        """The "OrthancPeers" configuration that declares this server as the peer "slow"."""
        return {"OrthancPeers": {"slow": {"Url": self.url}}}

    def __enter__(self) -> SlowPeer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
