"""/healthz while the operator is a standby: kopf serves its own only once it runs (when leading).

Without it the kubelet's liveness probe would restart every standby. It answers 200 while the
election thread lives (a standby that can no longer take over is not healthy) and is closed
before kopf binds the same port.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StandbyHealth:
    def __init__(self, address: str, port: int, healthy: Callable[[], bool]) -> None:
        check = healthy

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/healthz":
                    self.send_error(404)
                    return
                ok = check()
                body = json.dumps({"role": "standby", "electing": ok}).encode()
                self.send_response(200 if ok else 500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # probes are not news
                pass

        self._server = ThreadingHTTPServer((address, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="standby-health", daemon=True)

    def start(self) -> StandbyHealth:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop answering and free the port for kopf's liveness endpoint."""
        self._server.shutdown()
        self._server.server_close()
