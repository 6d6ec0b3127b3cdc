"""HTTP request -> the REST API (v1) Lambda proxy event; the function's proxy response -> HTTP response.

Mirrors API Gateway Developer Guide, "Lambda proxy integrations in API Gateway" (input and output formats), and
"Binary media types for REST APIs in API Gateway"; SAM CLI's counterpart is
aws/aws-sam-cli: samcli/local/apigw/event_constructor.py.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from churn_local.constants import LOCAL_ACCOUNT_ID
from churn_local.template.provider import Method, RestApi, short_id

DEFAULT_PORT = 3000
# Top-level keys a REST API accepts in a proxy response. Any other key makes a REST API (unlike an HTTP API) answer
# 502, as SAM CLI's local API also mirrors (LocalApigwService._invalid_apig_response_keys in
# aws/aws-sam-cli: samcli/local/apigw/local_apigw_service.py).
PROXY_RESPONSE_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ApiKey:
    """An API key as API Gateway knows it: the value clients send and the key's id."""

    value: str

    @property
    def key_id(self) -> str:
        """Return a stable 10-character id shaped like a real API key id."""
        return short_id(f"api-key:{self.value}", 10)


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request as received: header names in the client's case and order, the body as bytes."""

    method: str
    target: str
    headers: Headers = ()
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    server_port: int = DEFAULT_PORT
    scheme: str = "http"

    @cached_property
    def path(self) -> str:
        """Return the path part of the request target."""
        return urlsplit(self.target).path or "/"

    @cached_property
    def query(self) -> str:
        """Return the raw query string."""
        return urlsplit(self.target).query

    @cached_property
    def _last(self) -> dict[str, str]:
        # Each header's last value by lower-cased name: a request is looked up several times on its way.
        return {k.lower(): v for k, v in self.headers}

    def header(self, name: str) -> str | None:
        """Return the last value of a header, matched case-insensitively."""
        return self._last.get(name.lower())


@dataclass(frozen=True)
class HttpResponse:
    """One HTTP response to write back."""

    status: int
    headers: Headers = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """Return the first value of a header, matched case-insensitively."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass(frozen=True)
class RequestIds:
    """The identifiers API Gateway gives one request."""

    request_id: str
    extended_request_id: str
    trace_id: str
    epoch_ms: int

    @classmethod
    def new(cls, now: float | None = None) -> RequestIds:
        """Make fresh ids, like API Gateway does for every request."""
        now = time.time() if now is None else now
        # X-Ray trace id format: Root=1-<8 hex digits of epoch seconds>-<24 hex digits>.
        trace = f"Root=1-{int(now):08x}-{secrets.token_hex(12)}"
        extended = base64.b64encode(secrets.token_bytes(9)).decode().replace("/", "A").replace("+", "B")[:11] + "="
        return cls(str(uuid.uuid4()), extended, trace, int(now * 1000))


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _request_time(epoch_ms: int) -> str:
    """Format like requestContext.requestTime ("09/Apr/2015:12:34:56 +0000"), independent of the locale."""
    t = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return f"{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S} +0000"


def _multi(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """Split pairs into API Gateway's single-value map (the last value wins) and its multi-value map; None if empty."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        single[key] = value
        multi.setdefault(key, []).append(value)
    return (single, multi) if multi else (None, None)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_binary_media_type(media_type: str, binary_media_types: Iterable[str]) -> bool:
    if not media_type:
        return False
    kind = media_type.split("/", 1)[0]
    for pattern in binary_media_types:
        pattern = pattern.strip().lower()
        if pattern in (media_type, "*/*") or pattern == f"{kind}/*":
            return True
    return False


def build_event(
    request: HttpRequest,
    method: Method,
    api: RestApi,
    ids: RequestIds,
    api_key: ApiKey | None = None,
) -> dict[str, Any]:
    """Build the REST API (v1) Lambda proxy event API Gateway sends for this request.

    `api_key` is the key API Gateway validated for a method that requires one: it fills
    requestContext.identity.apiKey and apiKeyId ($context.identity.apiKey/apiKeyId, "Variables for data
    transformations", Developer Guide). A method a Cognito user pool authorizer guards gets requestContext.authorizer
    with EMPTY claims: deployed, they are the verified ID token's claims; locally the token is not verified, so
    nothing in it is decoded or passed on as if it were (a function must not see unverified claims as trusted).
    """
    host = request.header("Host") or f"127.0.0.1:{request.server_port}"
    domain = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    # API Gateway adds these before invoking the integration; X-Forwarded-For gets the client's address appended.
    forwarded_for = request.header("X-Forwarded-For")
    added = [
        ("X-Forwarded-For", f"{forwarded_for}, {request.source_ip}" if forwarded_for else request.source_ip),
        ("X-Forwarded-Port", str(request.server_port)),
        ("X-Forwarded-Proto", request.scheme),
    ]
    if request.header("X-Amzn-Trace-Id") is None:
        added.append(("X-Amzn-Trace-Id", ids.trace_id))
    replaced = {"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto"}
    headers, multi_headers = _multi([(k, v) for k, v in request.headers if k.lower() not in replaced] + added)
    query, multi_query = _multi(parse_qsl(request.query, keep_blank_values=True))

    body: str | None = None
    is_base64 = False
    if request.body:
        media_type = _media_type(request.header("Content-Type"))
        if _is_binary_media_type(media_type, api.binary_media_types):
            body, is_base64 = base64.b64encode(request.body).decode("ascii"), True
        else:
            try:
                body = request.body.decode("utf-8")
            except UnicodeDecodeError:
                # API Gateway would hand bytes that are not UTF-8 and not a binary media type to the function as
                # mangled text; locally they arrive intact, base64-encoded and flagged, as binary media types do.
                body, is_base64 = base64.b64encode(request.body).decode("ascii"), True

    path = unquote(request.path)
    user_agent = request.header("User-Agent")
    event: dict[str, Any] = {
        "resource": method.resource,
        "path": path,
        "httpMethod": request.method.upper(),
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": None,  # the API's resources have no path variables
        "stageVariables": None,
        "requestContext": {
            "resourceId": short_id(f"{api.logical_id}:{method.resource}", 6),
            "resourcePath": method.resource,
            "httpMethod": request.method.upper(),
            "extendedRequestId": ids.extended_request_id,
            "requestTime": _request_time(ids.epoch_ms),
            # The path as the client asked for it. On the execute-api URL that starts with the stage; behind a custom
            # domain it does not, and the local URL is like a custom domain mapped to the stage (SAM CLI's local API
            # sends the resource path here too). Powertools reads it to tell Swagger UI the API's base path
            # (APIGatewayRestResolver._get_base_path), so a stage prefix here would send "Try it out" to /Prod/...
            "path": path,
            "accountId": LOCAL_ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": api.stage,
            "domainPrefix": domain.split(".", 1)[0],
            "requestTimeEpoch": ids.epoch_ms,
            "requestId": ids.request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": request.source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": user_agent,
                "user": None,
                "apiKey": api_key.value if api_key else None,
                "apiKeyId": api_key.key_id if api_key else None,
            },
            "domainName": domain,
            "apiId": api.api_id,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }
    if method.token_header is not None:
        event["requestContext"]["authorizer"] = {"claims": {}}
    return event


class MalformedProxyResponse(ValueError):
    """The function answered with something that is not a Lambda proxy response."""


def translate_response(output: Any, api: RestApi, request: HttpRequest) -> HttpResponse:
    """Turn the function's proxy response into the HTTP response, as a REST API does, or raise if malformed."""
    if not isinstance(output, Mapping):
        raise MalformedProxyResponse(f"the function returned {type(output).__name__}, not an object")
    unknown = sorted(set(output) - PROXY_RESPONSE_KEYS)
    if unknown:
        raise MalformedProxyResponse(f"unexpected keys {unknown}")
    status = output.get("statusCode")
    if isinstance(status, bool) or not isinstance(status, int | str):
        raise MalformedProxyResponse("statusCode is missing or not an integer")
    try:
        status = int(status)
    except ValueError:
        raise MalformedProxyResponse("statusCode is not an integer") from None
    if not 100 <= status <= 599:
        raise MalformedProxyResponse(f"statusCode {status} is not an HTTP status")

    headers = _response_headers(output.get("headers"), output.get("multiValueHeaders"))
    body = output.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedProxyResponse(f"body must be a string, not {type(body).__name__}")
    is_base64 = output.get("isBase64Encoded", False)
    if is_base64 is None:
        is_base64 = False
    if not isinstance(is_base64, bool):
        raise MalformedProxyResponse("isBase64Encoded must be a boolean")

    payload = (body or "").encode("utf-8")
    # A REST API turns a base64 body back into bytes only when the client's first Accept type is one of the API's
    # binary media types; otherwise the client gets the base64 text as the function returned it.
    accept = _media_type((request.header("Accept") or "").split(",", 1)[0])
    if is_base64 and body and _is_binary_media_type(accept, api.binary_media_types):
        try:
            payload = base64.b64decode(body, validate=True)
        except binascii.Error:
            raise MalformedProxyResponse("isBase64Encoded is true but body is not base64") from None
    if not any(k.lower() == "content-type" for k, _ in headers):
        # API Gateway labels a proxy response without Content-Type as JSON.
        headers.append(("Content-Type", "application/json"))
    return HttpResponse(status, tuple(headers), payload)


def _response_headers(single: Any, multi: Any) -> list[tuple[str, str]]:
    """Merge `multiValueHeaders` and `headers`: a pair present in both appears once, multiValueHeaders first."""
    if single is not None and not isinstance(single, Mapping):
        raise MalformedProxyResponse("headers must be an object")
    if multi is not None and not isinstance(multi, Mapping):
        raise MalformedProxyResponse("multiValueHeaders must be an object")
    merged: list[tuple[str, str]] = []
    for name, values in (multi or {}).items():
        if not isinstance(values, list):
            raise MalformedProxyResponse(f"multiValueHeaders[{name!r}] must be a list")
        merged.extend((str(name), _header_value(v)) for v in values)
    for name, value in (single or {}).items():
        pair = (str(name), _header_value(value))
        if pair not in merged:
            merged.append(pair)
    for name, value in merged:
        if any(c in name + value for c in "\r\n") or not name:
            raise MalformedProxyResponse("a header name or value contains a line break")
    return merged


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return str(value)
    raise MalformedProxyResponse(f"header values must be strings, not {type(value).__name__}")


def lambda_payload_size(payload: Any) -> int:
    """Return the bytes of a payload as JSON, compact: the least any serialiser sends to Lambda."""
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def lambda_payload_over(payload: Any, limit: int) -> int | None:
    """Return the payload's JSON size if it is over `limit` bytes, else None; measure a large body only if it could be.

    A string of n characters takes at most 6n bytes in JSON (a control character becomes \\u00XX; other characters
    stay as they are, at most 4 bytes of UTF-8), so a body far under the limit is not serialised just to be counted:
    that took 3 ms of a 1,000-customer batch.
    """
    if isinstance(payload, Mapping) and isinstance(body := payload.get("body"), str):
        rest = lambda_payload_size({**payload, "body": None})
        if rest + 6 * len(body) <= limit:
            return None
    size = lambda_payload_size(payload)
    return size if size > limit else None
