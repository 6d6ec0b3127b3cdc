"""Serve the template's API events locally, like `sam local start-api` but in-process and without Docker.

The routes come from `template.yaml` (the `Api` events of each `AWS::Serverless::Function`). Each HTTP request
becomes the API Gateway REST API (v1) Lambda proxy event that API Gateway would send, the function's handler is
called with a Lambda context, and its proxy response becomes the HTTP response. Where API Gateway itself answers
(unknown route, broken function), the local API answers the same way. Local only: never deployed.

API Gateway references mirrored here:
- proxy event and response formats: API Gateway Developer Guide, "Lambda proxy integrations in API Gateway"
  (input format and output format of a Lambda function for proxy integration);
- gateway responses: Developer Guide, "Gateway response types for API Gateway" (MISSING_AUTHENTICATION_TOKEN 403,
  REQUEST_TOO_LARGE 413) and Lambda Developer Guide, "Handling Lambda errors with an API Gateway API" (a function
  error or a response in the wrong format is a 502 with `{"message": "Internal server error"}`);
- binary payloads: Developer Guide, "Binary media types for REST APIs in API Gateway";
- CORS: the OPTIONS method SAM adds to every path of an API with `Cors` is a mock integration answering 200 with
  the configured Access-Control-Allow-* headers (samtranslator swagger/swagger.py `add_cors`, after the Developer
  Guide's "Enabling CORS for a REST API resource"); API Gateway's own errors carry the headers of the API's
  `GatewayResponses` ("Setting up gateway responses to customize error responses");
- API keys: a method with apiKeyRequired answers 403 `{"message":"Forbidden"}` (gateway response INVALID_API_KEY)
  without a valid `x-api-key` header ("Choose an API key source in API Gateway"); SAM decides which methods need
  one from the API's and each event's `Auth` (samtranslator model/api/api_generator.py, swagger/swagger.py
  `set_path_default_apikey_required`);
- throttling: "Throttle requests to your REST APIs for better throughput in API Gateway" (token bucket, rate and
  burst per method; 429 `{"message":"Too Many Requests"}`, gateway response THROTTLED);
- Lambda's 6 MB synchronous payload quota (Lambda Developer Guide, "Lambda quotas"): see LAMBDA_REQUEST_LIMIT.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib
import json
import logging
import mimetypes
import os
import re
import secrets
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from cfnlint.decode.cfn_yaml import loads as load_cfn_yaml
from samcli.lib.cfn_language_extensions.exceptions import InvalidTemplateException
from samcli.lib.cfn_language_extensions.models import PseudoParameterValues
from samcli.lib.cfn_language_extensions.sam_integration import process_template_for_sam_cli
from samcli.lib.intrinsic_resolver.intrinsic_property_resolver import IntrinsicResolver
from samcli.lib.intrinsic_resolver.intrinsics_symbol_table import IntrinsicsSymbolTable
from samtranslator.plugins.globals.globals import Globals

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
STATIC_DIR = Path(__file__).resolve().with_name("static")

FUNCTION_TYPE = "AWS::Serverless::Function"
API_TYPE = "AWS::Serverless::Api"
# An Api event without RestApiId lands on SAM's implicit API, deployed to the "Prod" stage.
IMPLICIT_API = "ServerlessRestApi"
IMPLICIT_STAGE = "Prod"
LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_STACK_NAME = "churn-api-local"
# SAM's defaults for AWS::Serverless::Function when the template and its Globals say nothing.
DEFAULT_TIMEOUT_S = 3
DEFAULT_MEMORY_MB = 128
# API Gateway REST API quota: 10 MB payload; larger requests get the REQUEST_TOO_LARGE gateway response.
MAX_BODY_BYTES = 10 * 1024 * 1024
# Lambda's synchronous Invoke takes at most 6,291,456 bytes of request payload, which for a proxy integration is
# the whole JSON event, headers and requestContext included, not just the body ("Request must be smaller than
# 6291456 bytes for the InvokeFunction operation", as quoted in Zac Charles, "Deep Dive: Lambda's Request Payload
# Size Limit", 2022). A REST API then answers 413 {"message": "Request Too Long"} with x-amzn-ErrorType
# BadRequestException, as observed on a deployed REST API in koki-develop/lgtm-generator issue #10.
LAMBDA_REQUEST_LIMIT = 6_291_456
# Lambda's response payload limit is 100 bytes more (Zac Charles, part 1 of the same series); a function whose
# answer is larger fails, and API Gateway answers 502.
LAMBDA_RESPONSE_LIMIT = 6_291_556
METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
# What SAM's CORS preflight allows for a path served by an ANY method (samtranslator open_api/base_editor.py).
ANY_METHODS = ("OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")
# Top-level keys a REST API accepts in a proxy response. Any other key makes a REST API (unlike an HTTP API) answer
# 502, as SAM CLI's local API also mirrors (samcli/local/apigw/local_apigw_service.py, _invalid_apig_response_keys).
PROXY_RESPONSE_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})

_UNSET = "__churn_local_unset_parameter__:"

Headers = tuple[tuple[str, str], ...]
Handler = Callable[[dict[str, Any], Any], Any]


class TemplateError(ValueError):
    """The template cannot be served locally (no routes, a route conflict, an unresolvable handler...)."""


# --------------------------------------------------------------------------------------------------------------
# The template: functions, APIs and routes
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    """What the local API needs to know about one AWS::Serverless::Function."""

    logical_id: str
    code_uri: Path
    handler: str
    timeout_s: int = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB
    # Environment variables resolved from parameters; None where the value only exists once deployed.
    environment: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def function_name(self) -> str:
        """Return a name shaped like the physical name CloudFormation gives an unnamed function."""
        return f"{LOCAL_STACK_NAME}-{self.logical_id}"

    def arn(self, region: str) -> str:
        """Return the function ARN the Lambda context reports."""
        return f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{self.function_name}"


@dataclass(frozen=True)
class ApiSpec:
    """One REST API: the stage it is deployed to and the properties that shape requests and responses."""

    logical_id: str
    stage: str
    binary_media_types: tuple[str, ...] = ()
    # The API's resolved properties: Cors, Auth, GatewayResponses, MethodSettings...
    properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def api_id(self) -> str:
        """Return a stable 10-character id shaped like a real REST API id."""
        return _short_id(self.logical_id, 10)

    @property
    def auth(self) -> Mapping[str, Any]:
        """Return the API's `Auth` property (empty when it has none)."""
        auth = self.properties.get("Auth")
        return auth if isinstance(auth, Mapping) else {}

    @property
    def api_key_required(self) -> bool:
        """Tell whether the API requires a key on every method that does not opt out."""
        # SAM tests the value for truthiness (api_generator.py `if auth_properties.ApiKeyRequired`).
        return bool(self.auth.get("ApiKeyRequired"))

    @property
    def preflight_requires_api_key(self) -> bool:
        """Tell whether the CORS preflight needs a key too: SAM's AddApiKeyRequiredToCorsPreflight defaults to true."""
        return self.api_key_required and bool(self.auth.get("AddApiKeyRequiredToCorsPreflight", True))

    @property
    def cors(self) -> Mapping[str, Any] | None:
        """Return the API's `Cors` as SAM reads it: a string is the AllowOrigin, and AllowOrigin defaults to '*'."""
        cors = self.properties.get("Cors")
        if cors is None:
            return None
        if isinstance(cors, str):
            return {"AllowOrigin": cors}
        if not isinstance(cors, Mapping):
            raise TemplateError(f"{self.logical_id}.Cors must be a string or a map")
        return {"AllowOrigin": "'*'", **cors}

    def gateway_response(self, response_type: str, status: int) -> Mapping[str, Any]:
        """Return the customisation that applies: the type's own, else DEFAULT_4XX or DEFAULT_5XX, else none."""
        responses = self.properties.get("GatewayResponses")
        if not isinstance(responses, Mapping):
            return {}
        found = responses.get(response_type) or responses.get("DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX")
        return found if isinstance(found, Mapping) else {}

    def throttle(self, resource: str, method: str) -> tuple[float, int] | None:
        """Return (rate, burst) of the most specific MethodSettings entry that throttles this method, if any."""
        best: tuple[int, float, int] | None = None
        for setting in self.properties.get("MethodSettings") or ():
            if not isinstance(setting, Mapping):
                continue
            # CloudFormation encodes "/" inside ResourcePath as "~1"; "/*" and "*" are the stage-wide wildcards.
            path = str(setting.get("ResourcePath", "/*"))
            path = path if path == "/*" else path[1:].replace("~1", "/") or "/"
            verb = str(setting.get("HttpMethod", "*")).upper()
            if path not in ("/*", resource) or verb not in ("*", method):
                continue
            rate, burst = setting.get("ThrottlingRateLimit"), setting.get("ThrottlingBurstLimit")
            if rate is None or burst is None:
                continue
            rank = (path != "/*") * 2 + (verb != "*")
            if best is None or rank > best[0]:
                best = (rank, float(rate), int(burst))
        return None if best is None else (best[1], best[2])


@dataclass(frozen=True)
class Route:
    """One `Api` event: a method (or ANY) on a resource path, integrated with one function."""

    function: str
    api: str
    method: str
    resource: str
    event: str = ""
    properties: Mapping[str, Any] = field(default_factory=dict)
    # The OPTIONS method SAM adds for the API's Cors: a mock integration, no function behind it.
    cors_preflight: bool = False

    def requires_api_key(self, api: ApiSpec) -> bool:
        """Tell whether API Gateway wants an `x-api-key` on this method, by SAM's rules."""
        if self.cors_preflight:
            return api.preflight_requires_api_key
        auth = self.properties.get("Auth")
        own = auth.get("ApiKeyRequired") if isinstance(auth, Mapping) else None
        # The event's own setting wins over the API's (swagger.py add_auth_to_method, then
        # set_path_default_apikey_required skips methods marked api_key_false).
        return bool(own) if own is not None else api.api_key_required

    @property
    def segments(self) -> tuple[str, ...]:
        """Return the resource path's segments ("/" has none)."""
        return tuple(s for s in self.resource.split("/") if s)

    def match(self, path: str) -> dict[str, str] | None:
        """Return the path parameters when `path` is an instance of this resource, else None."""
        parts = path.split("/")[1:]
        if parts and parts[-1] == "":
            # REST APIs route "/predict/" like "/predict" (observed and reported in
            # aws-powertools/powertools-lambda-python#1552); the event keeps the path as sent.
            parts.pop()
        params: dict[str, str] = {}
        for i, segment in enumerate(self.segments):
            if segment.startswith("{") and segment.endswith("+}"):
                # A greedy path variable ({proxy+}) takes the rest of the path, at least one segment.
                if i >= len(parts):
                    return None
                params[segment[1:-2]] = unquote("/".join(parts[i:]))
                return params
            if i >= len(parts):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                params[segment[1:-1]] = unquote(parts[i])
            elif segment != parts[i] or not parts[i]:
                return None
        return params if len(parts) == len(self.segments) and all(parts) else None

    @property
    def specificity(self) -> tuple[int, ...]:
        """Rank resources the way API Gateway prefers them: literal segments before variables before greedy ones."""
        return tuple(2 if s.endswith("+}") else 1 if s.startswith("{") else 0 for s in self.segments)


@dataclass(frozen=True)
class Application:
    """The functions, APIs and routes of a SAM template."""

    functions: Mapping[str, FunctionSpec]
    apis: Mapping[str, ApiSpec]
    routes: tuple[Route, ...]

    @classmethod
    def from_template(
        cls,
        path: Path,
        parameter_overrides: Mapping[str, str] | None = None,
        region: str | None = None,
    ) -> Application:
        """Read a SAM template file; CodeUri paths are relative to the template's folder."""
        path = Path(path)
        return cls.from_text(path.read_text(encoding="utf-8"), path.parent, parameter_overrides, region, str(path))

    @classmethod
    def from_text(
        cls,
        text: str,
        base_dir: Path,
        parameter_overrides: Mapping[str, str] | None = None,
        region: str | None = None,
        filename: str = "template.yaml",
    ) -> Application:
        """Parse template text with cfn-lint's CloudFormation-aware YAML loader and collect its Api routes."""
        template = load_cfn_yaml(text, filename)
        if not isinstance(template, Mapping) or not isinstance(template.get("Resources"), Mapping):
            raise TemplateError(f"{filename} has no Resources")
        region = region or _region()
        values = _parameter_values(template, parameter_overrides or {})
        template = _evaluate_conditions(template, values, region)
        resolver = _resolver(template, values, region)
        globals_ = Globals(dict(template))
        resources: Mapping[str, Any] = template["Resources"]

        apis = {
            logical_id: _api_spec(logical_id, _merged(globals_, logical_id, resource), resolver)
            for logical_id, resource in resources.items()
            if resource.get("Type") == API_TYPE
        }
        functions: dict[str, FunctionSpec] = {}
        routes: list[Route] = []
        for logical_id, resource in resources.items():
            if resource.get("Type") != FUNCTION_TYPE:
                continue
            properties = _merged(globals_, logical_id, resource)
            function_routes = _routes(logical_id, properties, resolver, apis)
            if not function_routes:
                continue
            functions[logical_id] = _function_spec(logical_id, properties, resolver, base_dir)
            routes.extend(function_routes)
        if any(r.api == IMPLICIT_API for r in routes):
            apis[IMPLICIT_API] = ApiSpec(IMPLICIT_API, IMPLICIT_STAGE)
        if not routes:
            raise TemplateError(f"{filename} declares no Api events on any {FUNCTION_TYPE}")
        _check_conflicts(routes)
        _check_api_key_opt_outs(routes, apis)
        return cls(functions, apis, tuple(routes) + _cors_preflights(routes, apis))

    def find_route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """Return the route API Gateway would pick for this request, with its path parameters."""
        candidates = [(route, params) for route in self.routes if (params := route.match(path)) is not None]
        if not candidates:
            return None
        best = min(route.specificity for route, _ in candidates)
        on_resource = [(r, p) for r, p in candidates if r.specificity == best]
        # On one resource an explicit method wins over ANY.
        for wanted in (method.upper(), "ANY"):
            for route, params in on_resource:
                if route.method == wanted:
                    return route, params
        return None


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    """Return each parameter's value: the override, else the default, else a marker that it has none yet."""
    parameters = template.get("Parameters") or {}
    unknown = sorted(set(overrides) - set(parameters))
    if unknown:
        raise TemplateError(f"parameter overrides name parameters the template does not declare: {unknown}")
    for name, value in overrides.items():
        _check_parameter_value(name, str(value), parameters[name] or {})
    # A parameter with neither default nor override only gets a value at deploy time; the marker lets _resolve()
    # see through SAM CLI's habit of resolving an unknown Ref to the name itself.
    values: dict[str, str] = {
        name: _cfn_string(spec["Default"]) if "Default" in spec else f"{_UNSET}{name}"
        for name, spec in parameters.items()
    }
    values.update({name: str(value) for name, value in overrides.items()})
    return values


def _check_parameter_value(name: str, value: str, spec: Mapping[str, Any]) -> None:
    """Refuse a value CloudFormation would refuse (AllowedValues, AllowedPattern, lengths and bounds)."""
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [_cfn_string(v) for v in allowed]:
        raise TemplateError(f"parameter {name}={value!r} is not one of {[_cfn_string(v) for v in allowed]}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and re.fullmatch(str(pattern), value) is None:
        hint = spec.get("ConstraintDescription") or f"it must match {pattern}"
        raise TemplateError(f"parameter {name}={value!r} is refused: {hint}")
    if not spec.get("MinLength", 0) <= len(value) <= spec.get("MaxLength", len(value)):
        raise TemplateError(f"parameter {name}={value!r} has the wrong length")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise TemplateError(f"parameter {name}={value!r} is not a number") from None
        if not float(spec.get("MinValue", number)) <= number <= float(spec.get("MaxValue", number)):
            raise TemplateError(f"parameter {name}={value!r} is out of its MinValue/MaxValue range")


def _evaluate_conditions(template: Mapping[str, Any], values: Mapping[str, str], region: str) -> dict[str, Any]:
    """Settle Fn::If by the template's Conditions and drop AWS::NoValue, with these parameter values.

    CloudFormation evaluates conditions at deploy time; with the AWS::LanguageExtensions transform it does so before
    the SAM transform reads the template, which is what lets a condition switch an Api's or an event's `Auth`. SAM
    CLI's processor for that transform does the evaluating, in its partial mode that leaves alone what only exists
    once deployed (resource Refs, GetAtt).
    """
    pseudo = PseudoParameterValues(region=region, account_id=LOCAL_ACCOUNT_ID, stack_name=LOCAL_STACK_NAME)
    try:
        return process_template_for_sam_cli(dict(template), parameter_values=dict(values), pseudo_parameters=pseudo)
    except InvalidTemplateException as exc:
        raise TemplateError(f"the template's conditions cannot be evaluated: {exc}") from exc


def _resolver(template: Mapping[str, Any], values: Mapping[str, str], region: str) -> IntrinsicResolver:
    """Resolve Ref/Sub/Join against parameter values (overrides, then defaults) with SAM CLI's resolver."""
    translated: dict[str, Any] = dict(values)
    translated.update({"AWS::Region": region, "AWS::AccountId": LOCAL_ACCOUNT_ID, "AWS::StackName": LOCAL_STACK_NAME})
    symbols = IntrinsicsSymbolTable(template=template, logical_id_translator=translated)
    return IntrinsicResolver(template=template, symbol_resolver=symbols)


def _cfn_string(value: Any) -> str:
    """Render a parameter value the way CloudFormation passes it on: as a string, booleans lower-case."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _resolve(resolver: IntrinsicResolver, value: Any) -> Any:
    resolved = resolver.intrinsic_property_resolver(value, ignore_errors=False)
    if _UNSET in json.dumps(resolved, default=str):
        raise TemplateError(f"{value} depends on a parameter that has no value: pass it as a parameter override")
    return resolved


def _merged(globals_: Globals, logical_id: str, resource: Mapping[str, Any]) -> dict[str, Any]:
    """Return the resource's properties with the template's Globals merged in, by SAM's own rules."""
    properties = dict(resource.get("Properties") or {})
    merged = globals_.merge(resource["Type"], properties, logical_id, resource.get("IgnoreGlobals"))
    return dict(merged)


def _api_spec(logical_id: str, properties: Mapping[str, Any], resolver: IntrinsicResolver) -> ApiSpec:
    stage = str(_resolve(resolver, properties.get("StageName", IMPLICIT_STAGE)))
    # In CloudFormation a "/" in a media type is written "~1" (JSON pointer escaping).
    binary = tuple(str(_resolve(resolver, t)).replace("~1", "/") for t in properties.get("BinaryMediaTypes") or ())
    resolved = resolver.intrinsic_property_resolver(
        {k: v for k, v in properties.items() if k not in ("DefinitionBody", "DefinitionUri")}, ignore_errors=True
    )
    spec = ApiSpec(logical_id, stage, binary, resolved)
    # Fail at start-up, not on the first request, on a header value the local API cannot produce.
    expressions = [v for k, v in (spec.cors or {}).items() if k != "AllowCredentials" and v is not None]
    for response in (resolved.get("GatewayResponses") or {}).values():
        expressions.extend(_response_headers_of(response if isinstance(response, Mapping) else {}).values())
        if isinstance(response, Mapping) and response.get("ResponseTemplates"):
            log.warning("%s: GatewayResponses ResponseTemplates are not rendered locally", logical_id)
    for expression in expressions:
        mapped_value(expression, None)
    return spec


def _function_spec(
    logical_id: str, properties: Mapping[str, Any], resolver: IntrinsicResolver, base_dir: Path
) -> FunctionSpec:
    code_uri = _resolve(resolver, properties.get("CodeUri"))
    handler = _resolve(resolver, properties.get("Handler"))
    if not isinstance(code_uri, str) or not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"{logical_id} needs a local CodeUri folder and a module.function Handler")
    variables = ((properties.get("Environment") or {}).get("Variables")) or {}
    environment: dict[str, str | None] = {}
    for name, raw in variables.items():
        try:
            value = _resolve(resolver, raw)
        except Exception:
            value = None  # e.g. !GetAtt of a resource that only exists once deployed
        environment[str(name)] = _cfn_string(value) if isinstance(value, str | int | float | bool) else None
    return FunctionSpec(
        logical_id=logical_id,
        code_uri=(base_dir / code_uri).resolve(),
        handler=handler,
        timeout_s=int(_resolve(resolver, properties.get("Timeout", DEFAULT_TIMEOUT_S))),
        memory_mb=int(_resolve(resolver, properties.get("MemorySize", DEFAULT_MEMORY_MB))),
        environment=environment,
    )


def _routes(
    logical_id: str, properties: Mapping[str, Any], resolver: IntrinsicResolver, apis: Mapping[str, ApiSpec]
) -> list[Route]:
    routes = []
    for event_name, event in (properties.get("Events") or {}).items():
        if event.get("Type") != "Api":
            continue
        props = event.get("Properties") or {}
        api = _resolve(resolver, props.get("RestApiId", IMPLICIT_API))
        if api != IMPLICIT_API and api not in apis:
            raise TemplateError(f"{logical_id}.{event_name}: RestApiId {api!r} is not an {API_TYPE} in the template")
        method = str(_resolve(resolver, props.get("Method", ""))).upper()
        path = str(_resolve(resolver, props.get("Path", "")))
        if method not in (*METHODS, "ANY") or not path.startswith("/"):
            raise TemplateError(f"{logical_id}.{event_name}: unsupported method {method!r} or path {path!r}")
        resolved = resolver.intrinsic_property_resolver(dict(props), ignore_errors=True)
        routes.append(Route(logical_id, str(api), method, path, str(event_name), resolved))
    return routes


def _check_conflicts(routes: Iterable[Route]) -> None:
    # Locally every API shares one host, so two APIs may not claim the same method and path.
    seen: dict[tuple[str, str], Route] = {}
    for route in routes:
        key = (route.method, "/".join("{}" if s.startswith("{") else s for s in route.segments))
        if key in seen:
            other = seen[key]
            raise TemplateError(
                f"{route.method} {route.resource} is served by both {other.function}.{other.event} "
                f"and {route.function}.{route.event}"
            )
        seen[key] = route


def _check_api_key_opt_outs(routes: Iterable[Route], apis: Mapping[str, ApiSpec]) -> None:
    # SAM refuses `ApiKeyRequired: false` on an event whose API requires no key (eventsources/push.py).
    for route in routes:
        auth = route.properties.get("Auth")
        own = auth.get("ApiKeyRequired") if isinstance(auth, Mapping) else None
        if own is not None and not own and not apis[route.api].api_key_required:
            raise TemplateError(
                f"{route.function}.{route.event}: ApiKeyRequired false on {route.method} {route.resource}, but "
                f"{route.api} specifies no ApiKeyRequired (SAM refuses this)"
            )


def _cors_preflights(routes: Iterable[Route], apis: Mapping[str, ApiSpec]) -> tuple[Route, ...]:
    """Return the OPTIONS mock method SAM adds to each path of an API with Cors, unless the path has its own."""
    by_path: dict[tuple[str, str], list[Route]] = {}
    for route in routes:
        # SAM treats /path and /path/ as one resource (api_generator.py _add_cors).
        path = route.resource.rstrip("/") or "/"
        by_path.setdefault((route.api, path), []).append(route)
    preflights = []
    for (api, path), on_path in by_path.items():
        cors = apis[api].cors
        if cors is None or any(r.method == "OPTIONS" for r in on_path):
            continue
        allow_methods = cors.get("AllowMethods")
        if not allow_methods:
            # Without AllowMethods SAM lists the path's methods and OPTIONS, upper-case and sorted
            # (swagger.py _make_cors_allowed_methods_for_path_item); ANY stands for every method.
            verbs = set(ANY_METHODS) if any(r.method == "ANY" for r in on_path) else {r.method for r in on_path}
            allow_methods = "'" + ",".join(sorted(verbs | {"OPTIONS"})) + "'"
        properties = {"Cors": {**cors, "AllowMethods": allow_methods}}
        preflights.append(Route("", api, "OPTIONS", path, "Cors", properties, cors_preflight=True))
    return tuple(preflights)


def _short_id(seed: str, length: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, len(alphabet))
        chars.append(alphabet[digit])
    return "".join(chars)


# --------------------------------------------------------------------------------------------------------------
# HTTP request -> proxy event; proxy response -> HTTP response
# --------------------------------------------------------------------------------------------------------------


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

    @property
    def path(self) -> str:
        """Return the path part of the request target."""
        return urlsplit(self.target).path or "/"

    @property
    def query(self) -> str:
        """Return the raw query string."""
        return urlsplit(self.target).query

    def header(self, name: str) -> str | None:
        """Return the last value of a header, matched case-insensitively."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[-1] if values else None


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
    route: Route,
    path_parameters: Mapping[str, str],
    api: ApiSpec,
    ids: RequestIds,
    api_key: ApiKey | None = None,
) -> dict[str, Any]:
    """Build the REST API (v1) Lambda proxy event API Gateway sends for this request.

    `api_key` is the key API Gateway validated for a method that requires one: it fills
    requestContext.identity.apiKey and apiKeyId ($context.identity.apiKey/apiKeyId, "Variables for data
    transformations", Developer Guide).
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
    return {
        "resource": route.resource,
        "path": path,
        "httpMethod": request.method.upper(),
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": _short_id(f"{api.logical_id}:{route.resource}", 6),
            "resourcePath": route.resource,
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


class MalformedProxyResponse(ValueError):
    """The function answered with something that is not a Lambda proxy response."""


def translate_response(output: Any, api: ApiSpec, request: HttpRequest) -> HttpResponse:
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


@dataclass(frozen=True)
class GatewayError:
    """One answer API Gateway gives itself: its gateway response type, default status, message and error type."""

    response_type: str
    status: int
    message: str
    error_type: str


# "Gateway response types for API Gateway" (Developer Guide) gives the types and default status codes; the messages
# and x-amzn-ErrorType values are what deployed REST APIs send.
MISSING_AUTHENTICATION_TOKEN = GatewayError(
    "MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token", "MissingAuthenticationTokenException"
)
# A missing key and a wrong key get the same answer (LocalStack's API Gateway raises INVALID_API_KEY "Forbidden" for
# both, localstack services/apigateway/next_gen/execute_api/handlers/api_key_validation.py).
INVALID_API_KEY = GatewayError("INVALID_API_KEY", 403, "Forbidden", "ForbiddenException")
THROTTLED = GatewayError("THROTTLED", 429, "Too Many Requests", "TooManyRequestsException")
REQUEST_TOO_LARGE = GatewayError("REQUEST_TOO_LARGE", 413, "Request Too Long", "RequestTooLongException")
# The event is over Lambda's request limit (see LAMBDA_REQUEST_LIMIT for the observed answer).
LAMBDA_PAYLOAD_TOO_LARGE = GatewayError("REQUEST_TOO_LARGE", 413, "Request Too Long", "BadRequestException")
# A function error or a malformed proxy response (Lambda Developer Guide, "Handling Lambda errors with an API Gateway
# API"); only DEFAULT_5XX customises it.
INTERNAL_SERVER_ERROR = GatewayError("DEFAULT_5XX", 502, "Internal server error", "InternalServerErrorException")


def gateway_response(
    error: GatewayError,
    ids: RequestIds | None = None,
    api: ApiSpec | None = None,
    request: HttpRequest | None = None,
) -> HttpResponse:
    """Answer the way API Gateway itself does, customised by the API's GatewayResponses (status and headers)."""
    custom = api.gateway_response(error.response_type, error.status) if api is not None else {}
    status = int(custom.get("StatusCode") or error.status)
    headers: list[tuple[str, str]] = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error.error_type)]
    for name, expression in _response_headers_of(custom).items():
        value = mapped_value(expression, request)
        if value is not None:
            headers.append((str(name), value))
    if ids is not None:
        headers.extend(_gateway_headers(ids))
    # The default response template is {"message":$context.error.messageString}: compact JSON.
    body = json.dumps({"message": error.message}, separators=(",", ":")).encode()
    return HttpResponse(status, tuple(headers), body)


def _response_headers_of(custom: Mapping[str, Any]) -> Mapping[str, Any]:
    parameters = custom.get("ResponseParameters")
    headers = parameters.get("Headers") if isinstance(parameters, Mapping) else None
    return headers if isinstance(headers, Mapping) else {}


def mapped_value(expression: Any, request: HttpRequest | None) -> str | None:
    """Evaluate a header mapping expression: a quoted literal ('value') or method.request.header.<name>."""
    text = str(expression)
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    prefix = "method.request.header."
    if text.startswith(prefix):
        return request.header(text[len(prefix) :]) if request is not None else None
    raise TemplateError(f"the local API cannot evaluate the mapping expression {text!r}")


def _gateway_headers(ids: RequestIds) -> list[tuple[str, str]]:
    # Every response a REST API sends carries its request id, its extended id and the X-Ray trace header.
    return [
        ("x-amzn-RequestId", ids.request_id),
        ("x-amz-apigw-id", ids.extended_request_id),
        ("X-Amzn-Trace-Id", ids.trace_id),
    ]


def cors_preflight_response(route: Route, request: HttpRequest) -> HttpResponse:
    """Answer OPTIONS like SAM's mock integration: 200, the Access-Control-* headers, the template's `{}` body."""
    cors = route.properties["Cors"]
    headers = [("Content-Type", "application/json")]
    for header, key in (
        ("Access-Control-Allow-Origin", "AllowOrigin"),
        ("Access-Control-Allow-Headers", "AllowHeaders"),
        ("Access-Control-Allow-Methods", "AllowMethods"),
        ("Access-Control-Max-Age", "MaxAge"),
    ):
        # SAM leaves out a header whose value is empty, except MaxAge, where 0 is a value.
        if cors.get(key) is not None and (key == "MaxAge" or cors.get(key)):
            value = mapped_value(cors[key], request)
            if value is not None:
                headers.append((header, value))
    if cors.get("AllowCredentials") is True:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    return HttpResponse(200, tuple(headers), b"{}")


@dataclass(frozen=True)
class ApiKey:
    """An API key as API Gateway knows it: the value clients send and the key's id."""

    value: str

    @property
    def key_id(self) -> str:
        """Return a stable 10-character id shaped like a real API key id."""
        return _short_id(f"api-key:{self.value}", 10)


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


def lambda_payload_size(payload: Any) -> int:
    """Return the bytes of a payload as JSON, compact: the least any serialiser sends to Lambda."""
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


# --------------------------------------------------------------------------------------------------------------
# Invoking a function like a warm Lambda execution environment
# --------------------------------------------------------------------------------------------------------------


class LambdaContext:
    """The context object the Python Lambda runtime passes to a handler (awslambdaric's LambdaContext)."""

    def __init__(self, spec: FunctionSpec, region: str, aws_request_id: str | None = None) -> None:
        self.function_name = spec.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn(region)
        # The runtime reads it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE, so it is a string there too.
        self.memory_limit_in_mb = str(spec.memory_mb)
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.function_name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{secrets.token_hex(16)}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = int(time.time() * 1000) + spec.timeout_s * 1000

    def get_remaining_time_in_millis(self) -> int:
        """Return the milliseconds left before the function's configured timeout."""
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _Function:
    """One imported handler. Like a Lambda execution environment, it runs one invocation at a time."""

    def __init__(self, spec: FunctionSpec, handler: Handler) -> None:
        self.spec = spec
        self.handler = handler
        # Lambda never sends a second event to an environment that is still busy, and handler code relies on it:
        # Powertools' resolver keeps the current event on the (module-level) router while it resolves.
        self._busy = threading.Lock()

    def invoke(self, event: dict[str, Any], context: LambdaContext) -> Any:
        with self._busy:
            return self.handler(event, context)


class LocalApi:
    """Route HTTP requests to the template's functions, and serve the local-only demo page.

    What API Gateway does before the function runs happens here in its order: find the method (else 403 Missing
    Authentication Token), answer a CORS preflight from the mock integration, check the API key, throttle, check
    the payload against Lambda's limit; then invoke and translate the proxy response.
    """

    def __init__(
        self,
        application: Application,
        *,
        handlers: Mapping[str, Handler] | None = None,
        static_dir: Path | None = STATIC_DIR,
        region: str | None = None,
        api_keys: Iterable[str] = (),
        throttle: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.application = application
        self.region = region or _region()
        self.static_dir = static_dir.resolve() if static_dir is not None else None
        self._functions = {
            name: _Function(application.functions[name], handler) for name, handler in (handlers or {}).items()
        }
        # The keys of the usage plan attached to the stage: any of them opens a method that requires a key.
        self.api_keys = {value: ApiKey(value) for value in api_keys}
        self.throttle = throttle
        self._clock = clock
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._buckets_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Tell whether every routed function has a handler."""
        return set(self._functions) == set(self.application.functions)

    def load(self, environment: Mapping[str, str] | None = None) -> None:
        """Set each function's environment, then import its handler once, as a warm container keeps it."""
        for name, value in function_environment(self.application, environment or {}).items():
            os.environ[name] = value
        for spec in self.application.functions.values():
            if spec.logical_id not in self._functions:
                self._functions[spec.logical_id] = _Function(spec, import_handler(spec))

    def api_for(self, path: str) -> ApiSpec | None:
        """Return the API whose gateway responses answer for a path no route matches: the only one, if only one."""
        apis = list(self.application.apis.values())
        return apis[0] if len(apis) == 1 else None

    def dispatch(self, request: HttpRequest) -> HttpResponse:
        """Answer one request: a template route, else a local page, else API Gateway's 403."""
        ids = RequestIds.new()
        found = self.application.find_route(request.method, request.path)
        if found is None:
            page = self.static_page(request)
            if page is not None:
                return page
            return gateway_response(MISSING_AUTHENTICATION_TOKEN, ids, self.api_for(request.path), request)
        route, params = found
        api = self.application.apis[route.api]
        if len(request.body) > MAX_BODY_BYTES:
            return gateway_response(REQUEST_TOO_LARGE, ids, api, request)
        api_key: ApiKey | None = None
        if route.requires_api_key(api):
            api_key = self.api_keys.get(request.header("x-api-key") or "")
            if api_key is None:
                return gateway_response(INVALID_API_KEY, ids, api, request)
        if not self._admit(api, route, request.method):
            return gateway_response(THROTTLED, ids, api, request)
        if route.cors_preflight:
            response = cors_preflight_response(route, request)
            return HttpResponse(response.status, response.headers + tuple(_gateway_headers(ids)), response.body)
        event = build_event(request, route, params, api, ids, api_key)
        if lambda_payload_size(event) > LAMBDA_REQUEST_LIMIT:
            return gateway_response(LAMBDA_PAYLOAD_TOO_LARGE, ids, api, request)
        response = self.invoke(route.function, event, api, request, ids)
        return HttpResponse(response.status, response.headers + tuple(_gateway_headers(ids)), response.body)

    def reject_too_large(self, request: HttpRequest) -> HttpResponse:
        """Answer a request whose declared length is over the 10 MB quota before its body is read."""
        found = self.application.find_route(request.method, request.path)
        api = self.application.apis[found[0].api] if found else self.api_for(request.path)
        return gateway_response(REQUEST_TOO_LARGE, RequestIds.new(), api, request)

    def _admit(self, api: ApiSpec, route: Route, method: str) -> bool:
        if not self.throttle:
            return True
        # A route for ANY is throttled per HTTP method, like the methods API Gateway deploys for it.
        verb = method.upper() if route.method == "ANY" else route.method
        limits = api.throttle(route.resource, verb)
        if limits is None:
            return True
        key = (api.logical_id, route.resource, verb)
        with self._buckets_lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(*limits, clock=self._clock)
        return bucket.take()

    def invoke(
        self, function: str, event: dict[str, Any], api: ApiSpec, request: HttpRequest, ids: RequestIds
    ) -> HttpResponse:
        """Call the function with the event and translate its answer; failures become API Gateway's 502."""
        target = self._functions.get(function)
        if target is None:
            raise RuntimeError(f"{function} is not loaded: call LocalApi.load() first")
        context = LambdaContext(target.spec, self.region)
        try:
            output = target.invoke(event, context)
        except Exception:
            # Lambda reports the error to API Gateway, which answers 502; the traceback goes to the function's log.
            log.exception("%s failed (request %s)", function, ids.request_id)
            return gateway_response(INTERNAL_SERVER_ERROR, None, api, request)
        try:
            size = lambda_payload_size(output)
        except (TypeError, ValueError):
            size = 0  # not JSON-serialisable: translate_response refuses it below
        if size > LAMBDA_RESPONSE_LIMIT:
            log.error("%s returned %d bytes, over Lambda's response limit (request %s)", function, size, ids.request_id)
            return gateway_response(INTERNAL_SERVER_ERROR, None, api, request)
        try:
            return translate_response(output, api, request)
        except MalformedProxyResponse as exc:
            log.error("%s returned a malformed Lambda proxy response (request %s): %s", function, ids.request_id, exc)
            return gateway_response(INTERNAL_SERVER_ERROR, None, api, request)

    def static_page(self, request: HttpRequest) -> HttpResponse | None:
        """Serve the demo page and its assets on GET; the deployed API has no such pages."""
        if self.static_dir is None or request.method.upper() not in ("GET", "HEAD"):
            return None
        relative = unquote(request.path).lstrip("/") or "index.html"
        candidate = (self.static_dir / relative).resolve()
        if not candidate.is_relative_to(self.static_dir) or not candidate.is_file():
            return None
        content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
            content_type += "; charset=utf-8"
        body = candidate.read_bytes()
        headers = (("Content-Type", content_type), ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"))
        return HttpResponse(200, headers, body)


def function_environment(application: Application, overrides: Mapping[str, str]) -> dict[str, str]:
    """Return the variables the functions get: overrides, else the template's resolved values, else os.environ.

    Overrides of variables the template does not declare are passed on too (e.g. AWS_ENDPOINT_URL_* to point a
    function at another local service).
    """
    # One process holds every function, so they share os.environ: a variable must mean the same to all of them.
    resolved: dict[str, str] = dict(overrides)
    for spec in application.functions.values():
        for name, template_value in spec.environment.items():
            value = overrides.get(name, template_value if template_value is not None else os.environ.get(name))
            if value is None:
                raise TemplateError(
                    f"{spec.logical_id} needs {name}, which has no value until deployed: pass it as an override"
                )
            if resolved.get(name, value) != value:
                raise TemplateError(f"functions need different values of {name}; serve them separately")
            resolved[name] = value
    return resolved


def import_handler(spec: FunctionSpec) -> Handler:
    """Import `module.function` with the CodeUri folder first on sys.path, like the Lambda runtime's /var/task."""
    module_name, _, attribute = spec.handler.rpartition(".")
    code_dir = str(spec.code_uri)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    module = importlib.import_module(module_name)
    source = Path(getattr(module, "__file__", "") or "").resolve()
    if not source.is_relative_to(spec.code_uri):
        raise TemplateError(f"{module_name} was imported from {source}, not from {spec.code_uri}")
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise TemplateError(f"{spec.handler} is not a function")
    return handler  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------------------------
# The HTTP server
# --------------------------------------------------------------------------------------------------------------


class LocalApiServer(ThreadingHTTPServer):
    """A thread per connection; the only state shared between requests is the read-only route table and the
    imported handlers, whose invocations `_Function` serialises the way Lambda does."""

    daemon_threads = True
    # socketserver's default backlog of 5 resets connections when a burst of clients connects at once.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: LocalApi) -> None:
        self.api = api
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _RequestHandler)

    @property
    def url(self) -> str:
        """Return the base URL the server listens on."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "churn-local-api"
    # Idle keep-alive connections give their thread back after this many seconds.
    timeout = 30
    # Headers and body go out in two writes; with Nagle's algorithm the second waits for the client's delayed
    # ACK (about 40 ms on Linux) on every response.
    disable_nagle_algorithm = True
    server: LocalApiServer

    def _handle(self) -> None:
        started = time.perf_counter()
        length = self.headers.get("Content-Length")
        try:
            if length is not None and int(length) > MAX_BODY_BYTES:
                head = HttpRequest(self.command, self.path, tuple(self.headers.items()), b"", self.client_address[0])
                self._write(self.server.api.reject_too_large(head), close=True)
                return
            body = self._read_body(length)
        except ValueError:
            self.send_error(HTTPStatus.BAD_REQUEST, "Bad Content-Length or chunked body")
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
            response = gateway_response(INTERNAL_SERVER_ERROR, RequestIds.new())
        self._write(response)
        # Method, path and status only: bodies and query strings may carry customer data.
        log.info(
            "%s %s -> %d (%.0f ms)", self.command, request.path, response.status, (time.perf_counter() - started) * 1e3
        )

    def _read_body(self, length: str | None) -> bytes:
        if length is not None:
            return self.rfile.read(int(length))
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
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
        return b""

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

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # BaseHTTPRequestHandler would log the request line, query string included; _handle logs instead.
        return

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.warning("local API: %s", format % args)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle


def make_server(api: LocalApi, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> LocalApiServer:
    """Bind the local API (port 0 picks a free port); call serve_forever() to start answering."""
    return LocalApiServer((host, port), api)
