"""The threaded HTTP server every local service uses, with the timeouts a real front door has.

A thread per connection (http.server's ThreadingHTTPServer), a listen backlog that survives a burst of clients,
and `idle_timeout_s` on every socket read: an idle keep-alive connection, a request whose head never ends or a body
shorter than its Content-Length gives its thread back after that long instead of holding it forever (http.server
closes the connection on the read timeout). A negative or non-numeric Content-Length is refused before reading.
"""

from __future__ import annotations

import json
import socket
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_IDLE_TIMEOUT_S = 30.0


class LocalHTTPServer(ThreadingHTTPServer):
    """A thread per connection, daemon threads, a deep backlog, and the idle timeout its handlers apply."""

    daemon_threads = True
    # socketserver's default backlog of 5 resets connections when a burst of clients connects at once.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], idle_timeout_s: float) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)

    @property
    def url(self) -> str:
        """Return the base URL the server listens on."""
        host, port = str(self.server_address[0]), int(self.server_address[1])
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class TimedRequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive with the server's idle timeout on every read."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the second waits for the client's delayed ACK
    # (about 40 ms on Linux) on every response.
    disable_nagle_algorithm = True
    server: LocalHTTPServer

    def setup(self) -> None:
        """Apply the server's idle timeout to the connection (StreamRequestHandler reads `timeout`)."""
        self.timeout = self.server.idle_timeout_s
        super().setup()

    def content_length(self) -> int | None:
        """Return the declared Content-Length; raise ValueError when it is not a non-negative integer."""
        text = self.headers.get("Content-Length")
        if text is None:
            return None
        if not text.strip().isdigit():
            raise ValueError(f"bad Content-Length {text!r}")
        return int(text)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer http.server's own errors (bad request line, unsupported method...) in JSON, not in HTML."""
        body = json.dumps({"message": message or HTTPStatus(code).phrase}).encode()
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        """Say nothing: each service logs its requests itself, without bodies or query strings."""
        return
