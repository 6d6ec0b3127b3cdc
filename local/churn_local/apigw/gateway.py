"""The local API Gateway: what a REST API does with a request before and after the function, in its order.

Find the method (else 403 Missing Authentication Token), check the payload quota (413), check the Cognito user pool
authorizer's token header (401 Unauthorized; present is enough: the token is NOT verified locally), check the API key
(403 Forbidden, "Choose an API key source in API Gateway"), throttle (429, "Throttle requests to your REST APIs": a
token bucket per method with the stage's rate and burst), answer a CORS preflight from its mock integration, check
the event against Lambda's 6 MB request quota, invoke, and translate the proxy response (502 when the function
fails, times out or answers in the wrong shape; 504 past the integration timeout). Off the template's routes, GET
serves the local-only demo page. SAM CLI's counterpart: aws/aws-sam-cli: samcli/local/apigw/local_apigw_service.py.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from churn_local.apigw import responses
from churn_local.apigw.events import (
    ApiKey,
    HttpRequest,
    HttpResponse,
    MalformedProxyResponse,
    RequestIds,
    build_event,
    lambda_payload_over,
    translate_response,
)
from churn_local.constants import INTEGRATION_TIMEOUT_S, LOCAL_REGION
from churn_local.lambda_runtime.environments import ProcessContainers
from churn_local.lambda_runtime.invoke import (
    FunctionContainer,
    Handler,
    Outcome,
    function_environment,
    import_handler,
)
from churn_local.template.provider import Application, Method

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
# API Gateway REST API quota: 10 MB payload; larger requests get the REQUEST_TOO_LARGE gateway response.
MAX_BODY_BYTES = 10 * 1024 * 1024
# Lambda's synchronous Invoke takes at most 6,291,456 bytes of request payload: for a proxy integration the whole
# JSON event ("Request must be smaller than 6291456 bytes for the InvokeFunction operation", quoted in Zac Charles,
# "Deep Dive: Lambda's Request Payload Size Limit", 2022).
LAMBDA_REQUEST_LIMIT = 6_291_456
# Lambda's response payload limit is 100 bytes more (same series); a larger answer fails, and API Gateway says 502.
LAMBDA_RESPONSE_LIMIT = 6_291_556


class TokenBucket:
    """API Gateway's throttle: `burst` tokens, refilled at `rate` per second; each request takes one or is refused."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Take a token if one is left."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


class LocalApi:
    """Answer HTTP requests as the template's REST API and its function would."""

    def __init__(
        self,
        application: Application,
        *,
        handlers: Mapping[str, Handler] | None = None,
        static_dir: Path | None = STATIC_DIR,
        region: str = LOCAL_REGION,
        api_keys: Iterable[str] = (),
        throttle: bool = False,
        function_timeout_s: float | None = None,
        integration_timeout_s: float = INTEGRATION_TIMEOUT_S,
        environments: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.application = application
        self.api = application.api
        self.region = region
        self.static_dir = static_dir.resolve() if static_dir is not None else None
        # The keys of the usage plan attached to the stage: any of them opens a method that requires a key.
        self.api_keys = {value: ApiKey(value) for value in api_keys}
        self.throttle = throttle
        self.function_timeout_s = function_timeout_s
        self.integration_timeout_s = integration_timeout_s
        # 1: the handler runs in this process (one invocation at a time); more: that many environment processes.
        self.environments = environments
        self.containers: dict[str, FunctionContainer | ProcessContainers] = {}
        for name, handler in (handlers or {}).items():
            self._add_container(name, handler)
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._buckets_lock = threading.Lock()

    def _add_container(self, name: str, handler: Handler) -> None:
        self.containers[name] = FunctionContainer(
            self.application.functions[name],
            handler,
            region=self.region,
            timeout_s=self.function_timeout_s,
            integration_timeout_s=self.integration_timeout_s,
        )

    def load(self, environment: Mapping[str, str] | None = None) -> None:
        """Set the function's environment, then import its handler once, as a warm container keeps it."""
        resolved = function_environment(self.application, environment or {})
        os.environ.update(resolved)
        for spec in self.application.functions.values():
            if spec.logical_id in self.containers:
                continue
            if self.environments > 1:
                self.containers[spec.logical_id] = ProcessContainers(
                    spec,
                    resolved,
                    self.environments,
                    region=self.region,
                    timeout_s=self.function_timeout_s,
                    integration_timeout_s=self.integration_timeout_s,
                )
            else:
                self._add_container(spec.logical_id, import_handler(spec))

    def close(self) -> None:
        """Stop the function's environment processes, if any."""
        for container in self.containers.values():
            if isinstance(container, ProcessContainers):
                container.close()

    def describe(self) -> dict[str, Any]:
        """Say what this API serves: its methods (and which need a key or a token), origins, throttling, time limits."""
        methods = [m for m in self.api.methods.values() if m.function is not None]
        guarded = sorted((m.http_method, m.resource, m.token_header) for m in methods if m.token_header is not None)
        origins = {
            value
            for m in self.api.methods.values()
            if (value := responses.mapped_value(m.mock_headers.get("Access-Control-Allow-Origin", "''"), None))
        }
        limits = {limit for m in methods if (limit := self.api.throttle(m.resource, m.http_method)) is not None}
        return {
            "stage": self.api.stage,
            "methods": sorted((m.http_method, m.resource, m.api_key_required) for m in methods),
            "cors_origins": sorted(origins),
            "api_key_required": any(m.api_key_required for m in methods),
            # (method, resource, header) a Cognito user pool authorizer guards: the header must be there, unverified.
            "token_required": guarded,
            "throttling": sorted(limits) if self.throttle else [],
            "function_timeout_s": {name: c.timeout_s for name, c in self.containers.items()},
            "integration_timeout_s": self.integration_timeout_s,
            "environments": self.environments,
        }

    def dispatch(self, request: HttpRequest) -> HttpResponse:
        """Answer one request: a template method, else a local page, else API Gateway's 403."""
        method = self.api.method(request.method, request.path)
        if method is None:
            page = self.static_page(request)
            if page is not None:
                return page
        ids = RequestIds.new()
        return responses.stamped(self._answer(request, method, ids), ids)

    def _answer(self, request: HttpRequest, method: Method | None, ids: RequestIds) -> HttpResponse:
        if method is None:
            return responses.gateway_response(responses.MISSING_AUTHENTICATION_TOKEN, self.api, request)
        if len(request.body) > MAX_BODY_BYTES:
            return responses.gateway_response(responses.REQUEST_TOO_LARGE, self.api, request)
        # Authorizers run before the API key check: "Choose an API key source in API Gateway" (Developer Guide) lets
        # an authorizer return the key (apiKeySource AUTHORIZER), so the key is only known once authorization ran;
        # LocalStack's REST API handler chain (localstack/localstack:
        # localstack-core/localstack/services/apigateway/next_gen/execute_api/gateway.py) likewise validates the key
        # after preprocessing, reading the key an authorizer put in $context.identity. No token and no key: the 401.
        if method.token_header is not None and not (request.header(method.token_header) or "").strip():
            return responses.gateway_response(responses.UNAUTHORIZED, self.api, request)
        api_key: ApiKey | None = None
        if method.api_key_required:
            api_key = self.api_keys.get(request.header("x-api-key") or "")
            if api_key is None:
                return responses.gateway_response(responses.INVALID_API_KEY, self.api, request)
        if not self._admit(method):
            return responses.gateway_response(responses.THROTTLED, self.api, request)
        if method.function is None:
            return responses.preflight_response(method, request)
        event = build_event(request, method, self.api, ids, api_key)
        if lambda_payload_over(event, LAMBDA_REQUEST_LIMIT) is not None:
            return responses.gateway_response(responses.LAMBDA_PAYLOAD_TOO_LARGE, self.api, request)
        return self.invoke(method.function, event, request, ids)

    def reject(self, request: HttpRequest, error: responses.GatewayError) -> HttpResponse:
        """Answer a request the HTTP layer refused before reading its body (too large, unreadable)."""
        return responses.stamped(responses.gateway_response(error, self.api, request), RequestIds.new())

    def _admit(self, method: Method) -> bool:
        limits = self.api.throttle(method.resource, method.http_method) if self.throttle else None
        if limits is None:
            return True
        key = (method.resource, method.http_method)
        with self._buckets_lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(*limits, clock=self._clock)
        return bucket.take()

    def invoke(self, function: str, event: dict[str, Any], request: HttpRequest, ids: RequestIds) -> HttpResponse:
        """Call the function with the event and translate its answer; failures become API Gateway's 502 or 504."""
        container = self.containers.get(function)
        if container is None:
            raise RuntimeError(f"{function} is not loaded: call LocalApi.load() first")
        invocation = container.invoke(event, ids.request_id)
        if invocation.outcome is Outcome.INTEGRATION_TIMED_OUT:
            return responses.gateway_response(responses.INTEGRATION_TIMEOUT, self.api, request)
        if invocation.outcome is not Outcome.RETURNED:
            return responses.gateway_response(responses.INTERNAL_SERVER_ERROR, self.api, request)
        try:
            size = lambda_payload_over(invocation.output, LAMBDA_RESPONSE_LIMIT)
        except (TypeError, ValueError):
            size = None  # not JSON-serialisable: translate_response refuses it below
        try:
            if size is not None:
                raise MalformedProxyResponse(f"{size} bytes, over Lambda's response limit")
            return translate_response(invocation.output, self.api, request)
        except MalformedProxyResponse as exc:
            log.error("%s returned a malformed Lambda proxy response (request %s): %s", function, ids.request_id, exc)
            return responses.gateway_response(responses.INTERNAL_SERVER_ERROR, self.api, request)

    def static_page(self, request: HttpRequest) -> HttpResponse | None:
        """Serve the demo page and its assets on GET; the deployed API has no such pages."""
        if self.static_dir is None or request.method.upper() not in ("GET", "HEAD"):
            return None
        relative = unquote(request.path).lstrip("/") or "index.html"
        # The path must stay in the folder; a link in it may point out of it (openapi.json is docs/openapi.json).
        candidate = Path(os.path.normpath(self.static_dir / relative))
        if not candidate.is_relative_to(self.static_dir) or not candidate.is_file():
            return None
        content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
            content_type += "; charset=utf-8"
        headers = (("Content-Type", content_type), ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"))
        return HttpResponse(200, headers, candidate.read_bytes())
