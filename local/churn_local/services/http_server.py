"""The threaded HTTP server every local service uses, with the timeouts a real front door has.

A thread per connection (http.server's ThreadingHTTPServer), a listen backlog that survives a burst of clients,
and `idle_timeout_s` on every socket read: an idle keep-alive connection, a request whose head never ends or a body
shorter than its Content-Length gives its thread back after that long instead of holding it forever (http.server
closes the connection on the read timeout). A negative or non-numeric Content-Length is refused before reading.
Headers are read by a small parser instead of http.server's (the email package's, a third of a small request's
time); it keeps http.server's limits, errors and keep-alive rules, and answers 400 to a malformed header line.
A client that hangs up before its answer is written is not an error of the server: it is logged at debug level.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_IDLE_TIMEOUT_S = 30.0
# http.client's limits on one header line and on the number of headers, which http.server applies too.
MAX_LINE = 65536
MAX_HEADERS = 100


class LocalHTTPServer(ThreadingHTTPServer):
    """A thread per connection, daemon threads, a deep backlog, and the idle timeout its handlers apply."""

    daemon_threads = True
    # socketserver's default backlog of 5 resets connections when a burst of clients connects at once.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], idle_timeout_s: float) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: tuple[str, int]) -> None:
        """Log a connection the client dropped quietly; print anything else as socketserver does."""
        if isinstance(sys.exception(), ConnectionError):
            log.debug("%s hung up before its answer was written", client_address[0])
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        """Return the base URL the server listens on."""
        host, port = str(self.server_address[0]), int(self.server_address[1])
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class TimedRequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive with the server's idle timeout on every read."""

    protocol_version = "HTTP/1.1"
    # A large answer still goes out in two writes; with Nagle's algorithm the second waits for the client's delayed
    # ACK (about 40 ms on Linux).
    disable_nagle_algorithm = True
    # Buffered writes: the status line, the headers and a body under 8 KiB leave in one send (handle_one_request
    # flushes after every request) instead of one for the head and one for the body.
    wbufsize = -1
    server: LocalHTTPServer
    raw_requestline: bytes  # read by handle_one_request before parse_request

    def setup(self) -> None:
        """Apply the server's idle timeout to the connection, as StreamRequestHandler does with `timeout`."""
        super().setup()
        self.connection.settimeout(self.server.idle_timeout_s)

    def parse_request(self) -> bool:
        """Parse the request line and headers as http.server does, with a lighter header parser."""
        self.command = None  # type: ignore[assignment]  # set in case of an error on the first line
        self.request_version = self.default_request_version
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) != 3:
            # HTTP/0.9, a blank line or a malformed request line: http.server's own answers.
            return super().parse_request()
        command, path, version = words
        major, _, minor = version.removeprefix("HTTP/").partition(".")
        if not (version.startswith("HTTP/") and major.isdigit() and minor.isdigit() and len(major + minor) <= 20):
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version ({version!r})")
            return False
        if int(major) >= 2:
            self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"Invalid HTTP version ({major}.{minor})")
            return False
        self.close_connection = (int(major), int(minor)) < (1, 1)
        self.request_version, self.command = version, command
        self.path = "/" + path.lstrip("/") if path.startswith("//") else path
        headers = self._read_headers()
        if headers is None:
            return False
        self.headers = headers
        connection = headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        if headers.get("Expect", "").lower() == "100-continue" and self.request_version >= "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def handle_expect_100(self) -> bool:
        """Send 100 Continue at once: the client waits for it before it sends the body."""
        continuing = super().handle_expect_100()
        self.wfile.flush()
        return continuing

    def _read_headers(self) -> http.client.HTTPMessage | None:
        headers = http.client.HTTPMessage()
        name = value = ""
        for _ in range(MAX_HEADERS + 1):
            line = self.rfile.readline(MAX_LINE + 1)
            if len(line) > MAX_LINE:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long")
                return None
            text = line.decode("iso-8859-1").rstrip("\r\n")
            if text[:1] in (" ", "\t") and name:
                value += " " + text.strip(" \t")  # an obsolete folded line continues the value (RFC 9112 5.2)
                continue
            if name:
                headers.set_raw(name, value)
            if not text:
                return headers
            name, colon, value = text.partition(":")
            if not colon or not name or name != name.strip():
                self.send_error(HTTPStatus.BAD_REQUEST, "Bad header line")
                return None
            value = value.strip(" \t")
        self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
        return None

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


def free_port(host: str = "127.0.0.1") -> int:
    """Return a port nothing listens on now (IPv6 for a host with a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
