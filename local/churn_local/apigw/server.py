"""The local API's HTTP server: read a request, let the LocalApi answer it, write the answer.

Any method reaches the API, so one it does not serve (TRACE /predict) gets API Gateway's JSON 403 rather than
http.server's HTML 501. Chalice's counterpart: LocalDevServer in aws/chalice: chalice/local.py.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from churn_local.apigw import responses
from churn_local.apigw.events import DEFAULT_PORT, HttpRequest, HttpResponse
from churn_local.apigw.gateway import MAX_BODY_BYTES, LocalApi
from churn_local.services.http_server import DEFAULT_IDLE_TIMEOUT_S, LocalHTTPServer, TimedRequestHandler

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"


class LocalApiServer(LocalHTTPServer):
    """One thread per connection; the function's invocations are serialised by its container, as Lambda does."""

    def __init__(self, address: tuple[str, int], api: LocalApi, idle_timeout_s: float) -> None:
        self.api = api
        super().__init__(address, _RequestHandler, idle_timeout_s)


class _RequestHandler(TimedRequestHandler):
    server_version = "churn-local-api"
    server: LocalApiServer

    def __getattr__(self, name: str) -> Any:
        # Every method reaches the API (http.server looks up do_<METHOD> and answers HTML 501 when it is missing).
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _handle(self) -> None:
        started = time.perf_counter()
        head = HttpRequest(self.command, self.path, tuple(self.headers.items()), b"", self.client_address[0])
        try:
            length = self.content_length()
            if length is not None and length > MAX_BODY_BYTES:
                self._write(self.server.api.reject(head, responses.REQUEST_TOO_LARGE), close=True)
                return
            body = self._read_body(length)
        except ValueError:
            self._write(self.server.api.reject(head, responses.BAD_REQUEST_BODY), close=True)
            return
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=tuple(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            server_port=self.server.server_address[1],
        )
        try:
            response = self.server.api.dispatch(request)
        except Exception:
            log.exception("the local API failed on %s %s", self.command, request.path)
            response = self.server.api.reject(request, responses.INTERNAL_SERVER_ERROR)
        self._write(response)
        # Method, path and status only: bodies and query strings may carry customer data.
        log.info(
            "%s %s -> %d (%.0f ms)", self.command, request.path, response.status, (time.perf_counter() - started) * 1e3
        )

    def _read_body(self, length: int | None) -> bytes:
        if length is not None:
            body = self.rfile.read(length)
            if len(body) < length:
                raise ValueError("the connection closed before the body ended")
            return body
        if "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
            return b""
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise ValueError("chunked body too large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _write(self, response: HttpResponse, *, close: bool = False) -> None:
        self.send_response_only(response.status)
        self.send_header("Date", self.date_time_string())
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


def make_server(
    api: LocalApi, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
) -> LocalApiServer:
    """Bind the local API (port 0 picks a free port); call serve_forever() to start answering."""
    return LocalApiServer((host, port), api, idle_timeout_s)
