"""A small HTTP/1.1 backend for the tests: ``python backend_server.py NAME [PORT]``.

Prints ``PORT <n>`` once listening. ``GET /status/<code>`` answers with that status;
anything else answers 200 with ``{"name", "method", "path", "host"}``.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "backend"
    disable_nagle_algorithm = True

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(length) if length else b""
        status = 200
        if self.path.startswith("/status/"):
            status = int(self.path.split("/")[2])
        payload = {
            "name": self.server.name,  # type: ignore[attr-defined]
            "method": self.command,
            "path": self.path,
            "host": self.headers.get("Host"),
            "body": body_in.decode("utf-8", "replace"),
        }
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    name = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.name = name  # type: ignore[attr-defined]
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
