"""Local S3: moto's S3 server behind a small front that can inject GetObject faults.

Every request goes to moto unchanged, except a GetObject while a fault is on, answered as S3 answers (S3 API
Reference, "Error responses": an XML <Error> with Code, Message, RequestId): `deny` is 403 AccessDenied, `missing`
404 NoSuchKey, `corrupt` a 200 whose bytes are not the object, `hang` accepts and never answers. The fault
switch is at GET/PUT /_local/fault (churn_local.services.faults). Like S3, the front refuses (403 AccessDenied)
any request whose `x-amz-expected-bucket-owner` (boto3's ExpectedBucketOwner) names another account than the
buckets' owner.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

from churn_local.constants import LOCAL_ACCOUNT_ID
from churn_local.services import faults
from churn_local.services.http_server import DEFAULT_IDLE_TIMEOUT_S, TimedRequestHandler

log = logging.getLogger(__name__)

# Headers that describe one hop of the connection, not the message (RFC 9110 section 7.6.1).
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
# The header of ExpectedBucketOwner (S3 API Reference, GetObject: "If the account ID that you provide does not match
# the actual owner of the bucket, the request fails with the HTTP status code 403 Forbidden (access denied)").
_EXPECTED_OWNER = "x-amz-expected-bucket-owner"


class S3Server(faults.FaultInjectingServer):
    """Forward to moto at `upstream` (host, port); inject the switched fault into GetObject."""

    def __init__(
        self,
        address: tuple[str, int],
        upstream: tuple[str, int],
        fault: faults.Fault = faults.NO_FAULT,
        idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
        owner: str = LOCAL_ACCOUNT_ID,
    ) -> None:
        self.upstream = upstream
        # moto creates every bucket in its default account, the one the local stack pretends to be in.
        self.owner = owner
        super().__init__(address, _Handler, faults.S3_FAULTS, fault, idle_timeout_s)


class _Handler(TimedRequestHandler):
    server: S3Server
    server_version = "churn-local-s3"

    def _relay(self) -> None:
        path = urlsplit(self.path).path
        length = self.content_length() or 0
        body = self.rfile.read(length) if length else b""
        if path == faults.CONTROL_PATH:
            status, document = self.server.control(self.command, body)
            self._send(status, document, {"Content-Type": "application/json"})
            return
        # GetObject is a GET of /bucket/key (path style, as boto3 uses against a custom endpoint): the only call
        # counted and faulted.
        is_get_object = self.command == "GET" and path.count("/") >= 2 and bool(path.split("/", 2)[2])
        fault = self.server.faults.called() if is_get_object else faults.NO_FAULT
        if self.headers.get(_EXPECTED_OWNER, self.server.owner) != self.server.owner:
            self._error(faults.S3_FAULTS["deny"], path)  # what S3 answers another account's bucket owner
            return
        kind = faults.S3_FAULTS[fault.name]
        if kind.behaviour == faults.HANG:
            self.server.faults.hang()
            self.close_connection = True
            return
        if kind.behaviour == faults.ERROR:
            self._error(kind, path)
            return
        if kind.behaviour == faults.GARBAGE:
            self._send(200, os.urandom(64) + b"\x80not a pickle", {"Content-Type": "binary/octet-stream"})
            return
        connection = http.client.HTTPConnection(*self.server.upstream, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(self.command, self.path, body=body or None, headers=headers)
            upstream = connection.getresponse()
            payload = upstream.read()
            kept = {k: v for k, v in upstream.getheaders() if k.lower() not in _HOP_BY_HOP | {"content-length"}}
            self._send(upstream.status, payload, kept)
        finally:
            connection.close()

    def _error(self, kind: faults.FaultKind, resource: str) -> None:
        request_id = uuid.uuid4().hex[:16].upper()
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{kind.code}</Code><Message>{kind.message}</Message><Resource>{resource}</Resource>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
        self._send(
            kind.status or 500, xml.encode(), {"Content-Type": "application/xml", "x-amz-request-id": request_id}
        )

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response_only(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay  # noqa: N815 - http.server's method names


@contextlib.contextmanager
def s3_server_holding(bucket: str, key: str, body: bytes) -> Iterator[str]:
    """Serve S3 over HTTP on a free loopback port (moto's server) holding one object; yield the server's URL."""
    import boto3  # noqa: PLC0415 - here, not at import: the stack's own S3 needs neither
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")  # fmt: skip  # noqa: S106 - moto's own test credentials
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        yield url
    finally:
        server.stop()
