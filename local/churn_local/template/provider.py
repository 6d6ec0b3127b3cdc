"""Read what SAM decided: the REST API and the function behind it, from the template SAM translates.

Like SAM CLI's providers (`aws/aws-sam-cli: samcli/lib/providers/api_provider.py`,
`aws/aws-sam-cli: samcli/lib/providers/sam_function_provider.py`), this reads the
CloudFormation that the transforms produce (see churn_local.template.expansion) instead of re-deriving SAM's rules:
- routes and which function integrates each: the OpenAPI body's `paths` and their `x-amazon-apigateway-integration`
  (`aws_proxy` to `${Function.Arn}`, or the `mock` that answers a CORS preflight);
- which methods need an API key: a method's OpenAPI `security` naming the `apiKey` scheme (header x-api-key);
- which methods a Cognito user pool authorizer guards, and the header it reads the token from: a method's `security`
  naming a scheme with `x-amazon-apigateway-authtype: cognito_user_pools` (the scheme's `name`, e.g. Authorization);
- the preflight's answer: the mock integration's `responseParameters`
  (`aws/serverless-application-model: samtranslator/swagger/swagger.py`, `add_cors`);
- gateway responses: `x-amazon-apigateway-gateway-responses` ("Setting up gateway responses", Developer Guide);
- binary media types: `x-amazon-apigateway-binary-media-types`;
- throttling: the AWS::ApiGateway::Stage's `MethodSettings`;
- the function's Handler, Timeout, MemorySize and Environment: the AWS::Lambda::Function SAM generates (Globals
  merged); its CodeUri from the template as written, since the translated one points at S3.
One REST API with literal resource paths is what this project deploys, and all this reads.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from churn_local.constants import LOCAL_REGION, LOCAL_STACK_NAME, function_arn
from churn_local.template.expansion import Deployment, as_packaged, expand, load_template

REST_API = "AWS::ApiGateway::RestApi"
STAGE = "AWS::ApiGateway::Stage"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
SERVERLESS_FUNCTION = "AWS::Serverless::Function"
INTEGRATION = "x-amazon-apigateway-integration"
# `${Fn.Arn}` for the function itself; `${FnAliaslive}` when AutoPublishAlias makes the API invoke an alias.
_FUNCTION_IN_URI = re.compile(r"/functions/\$\{(?P<target>[A-Za-z0-9]+)(?P<arn>\.Arn)?\}/invocations")
LAMBDA_ALIAS = "AWS::Lambda::Alias"
_RESPONSE_HEADER = "method.response.header."
_GATEWAY_HEADER = "gatewayresponse.header."


class TemplateError(ValueError):
    """The template cannot be served locally (a refused parameter, no REST API, an unresolvable value...)."""


@functools.lru_cache(maxsize=256)  # every request asks for its API's and its resource's ids
def short_id(seed: str, length: int) -> str:
    """Return a stable id of lower-case letters and digits, shaped like API Gateway's ids."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, len(alphabet))
        chars.append(alphabet[digit])
    return "".join(chars)


@dataclass(frozen=True)
class FunctionSpec:
    """What the local API needs to know about the function: where its code is and how Lambda runs it."""

    logical_id: str
    code_uri: Path
    handler: str
    timeout_s: float
    memory_mb: int
    # Environment variables as resolved; None where the value only exists once deployed.
    environment: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def function_name(self) -> str:
        """Return a name shaped like the physical name CloudFormation gives an unnamed function."""
        return f"{LOCAL_STACK_NAME}-{self.logical_id}"

    def arn(self, region: str) -> str:
        """Return the function ARN the Lambda context reports."""
        return function_arn(self.function_name, region)


@dataclass(frozen=True)
class Method:
    """One method of one resource, as deployed: its integration and what API Gateway checks before it."""

    http_method: str
    resource: str
    # The function of an aws_proxy integration; None for the CORS preflight's mock integration.
    function: str | None
    api_key_required: bool
    # The mock integration's answer headers (name -> mapping expression), for the preflight.
    mock_headers: Mapping[str, str] = field(default_factory=dict)
    # The header a Cognito user pool authorizer reads the token from; None when no such authorizer guards the method.
    token_header: str | None = None


@dataclass(frozen=True)
class RestApi:
    """The REST API: its stage, its methods by resource and HTTP method, and its own answers."""

    logical_id: str
    stage: str
    methods: Mapping[tuple[str, str], Method]
    binary_media_types: tuple[str, ...] = ()
    # response type -> {"statusCode": ..., "headers": {name: mapping expression}}
    gateway_responses: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    method_settings: tuple[Mapping[str, Any], ...] = ()

    @property
    def api_id(self) -> str:
        """Return a stable 10-character id shaped like a real REST API id."""
        return short_id(self.logical_id, 10)

    @property
    def resources(self) -> tuple[str, ...]:
        """Return the resource paths, sorted."""
        return tuple(sorted({resource for resource, _ in self.methods}))

    def method(self, http_method: str, path: str) -> Method | None:
        """Return the method API Gateway routes this request to; REST APIs route "/predict/" like "/predict"."""
        resource = path.rstrip("/") or "/"
        return self.methods.get((resource, http_method.upper()))

    def throttle(self, resource: str, http_method: str) -> tuple[float, int] | None:
        """Return (rate, burst) of the most specific MethodSettings entry that throttles this method, if any."""
        best: tuple[int, float, int] | None = None
        for setting in self.method_settings:
            # CloudFormation encodes "/" inside ResourcePath as "~1"; "/*" is the stage-wide wildcard.
            path = str(setting.get("ResourcePath", "/*"))
            path = path if path == "/*" else path[1:].replace("~1", "/") or "/"
            verb = str(setting.get("HttpMethod", "*")).upper()
            rate, burst = setting.get("ThrottlingRateLimit"), setting.get("ThrottlingBurstLimit")
            if path not in ("/*", resource) or verb not in ("*", http_method) or rate is None or burst is None:
                continue
            rank = (path != "/*") * 2 + (verb != "*")
            if best is None or rank > best[0]:
                best = (rank, float(rate), int(burst))
        return None if best is None else (best[1], best[2])


@dataclass(frozen=True)
class Application:
    """The REST API and the function(s) it integrates, as SAM deploys them."""

    api: RestApi
    functions: Mapping[str, FunctionSpec]

    @classmethod
    def from_template(
        cls, path: Path, parameter_overrides: Mapping[str, str] | None = None, region: str = LOCAL_REGION
    ) -> Application:
        """Read a SAM template file; CodeUri paths are relative to the template's folder."""
        path = Path(path)
        try:
            source = load_template(path)
        except Exception as exc:
            raise TemplateError(f"{path} cannot be parsed: {exc}") from exc
        return cls.from_source(source, path.parent, parameter_overrides or {}, region)

    @classmethod
    def from_source(
        cls, source: Mapping[str, Any], base_dir: Path, overrides: Mapping[str, str], region: str = LOCAL_REGION
    ) -> Application:
        """Check the parameter values, expand the template offline and read the result."""
        check_parameters(source, overrides)
        try:
            expanded = expand(as_packaged(source, base_dir), overrides, Deployment(region=region))
        except Exception as exc:
            raise TemplateError(f"the template cannot be expanded: {exc}") from exc
        api = _rest_api(expanded)
        names = {m.function for m in api.methods.values() if m.function}
        functions = {name: _function(name, expanded, source, base_dir) for name in sorted(names)}
        return cls(api, functions)


def check_parameters(source: Mapping[str, Any], overrides: Mapping[str, str]) -> None:
    """Refuse what CloudFormation would refuse: unknown parameters and values outside their constraints."""
    parameters = source.get("Parameters") or {}
    unknown = sorted(set(overrides) - set(parameters))
    if unknown:
        raise TemplateError(f"parameter overrides name parameters the template does not declare: {unknown}")
    for name, value in overrides.items():
        _check_value(name, str(value), parameters[name] or {})


def _check_value(name: str, value: str, spec: Mapping[str, Any]) -> None:
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(v) for v in allowed]:
        raise TemplateError(f"parameter {name}={value!r} is not one of {[str(v) for v in allowed]}")
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


def _of_type(template: Mapping[str, Any], resource_type: str) -> dict[str, Mapping[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r.get("Type") == resource_type}


def _rest_api(expanded: Mapping[str, Any]) -> RestApi:
    apis = _of_type(expanded, REST_API)
    if len(apis) != 1:
        raise TemplateError(f"the local API serves exactly one REST API; the template has {sorted(apis)}")
    logical_id, resource = next(iter(apis.items()))
    body = resource["Properties"]["Body"]
    key_schemes = {
        name
        for name, scheme in ((body.get("components") or {}).get("securitySchemes") or {}).items()
        if scheme.get("type") == "apiKey" and str(scheme.get("name", "")).lower() == "x-api-key"
    }
    token_headers = _user_pool_token_headers(body)
    methods: dict[tuple[str, str], Method] = {}
    for resource_path, item in body["paths"].items():
        for verb, definition in item.items():
            integration = definition.get(INTEGRATION) or {}
            requirements = definition.get("security") or []
            keyed = any(key_schemes & set(requirement) for requirement in requirements)
            guards = [token_headers[n] for requirement in requirements for n in requirement if n in token_headers]
            method = Method(
                verb.upper(),
                resource_path,
                _integrated_function(integration, expanded),
                keyed,
                _mock(integration),
                token_header=guards[0] if guards else None,
            )
            methods[(resource_path, method.http_method)] = method
    stages = [
        s["Properties"]
        for s in _of_type(expanded, STAGE).values()
        if s["Properties"]["RestApiId"] == {"Ref": logical_id}
    ]
    if len(stages) != 1:
        raise TemplateError(f"{logical_id} must be deployed to exactly one stage")
    return RestApi(
        logical_id=logical_id,
        stage=str(stages[0]["StageName"]),
        methods=methods,
        binary_media_types=tuple(t.replace("~1", "/") for t in body.get("x-amazon-apigateway-binary-media-types", ())),
        gateway_responses={
            kind: {
                "statusCode": spec.get("statusCode"),
                "headers": _headers(spec.get("responseParameters") or {}, _GATEWAY_HEADER),
            }
            for kind, spec in (body.get("x-amazon-apigateway-gateway-responses") or {}).items()
        },
        method_settings=tuple(stages[0].get("MethodSettings") or ()),
    )


def _user_pool_token_headers(body: Mapping[str, Any]) -> dict[str, str]:
    """Return scheme name -> token header for the Cognito user pool authorizers SAM wrote into the OpenAPI body."""
    schemes = (body.get("components") or {}).get("securitySchemes") or {}
    return {
        name: str(scheme["name"])
        for name, scheme in schemes.items()
        if scheme.get("x-amazon-apigateway-authtype") == "cognito_user_pools" and scheme.get("in") == "header"
    }


def _integrated_function(integration: Mapping[str, Any], expanded: Mapping[str, Any]) -> str | None:
    if integration.get("type") != "aws_proxy":
        return None
    uri = integration.get("uri")
    found = _FUNCTION_IN_URI.search(str(uri.get("Fn::Sub") if isinstance(uri, Mapping) else uri))
    if found is None:
        raise TemplateError(f"cannot tell which function {uri} invokes")
    if found["arn"]:
        return found["target"]
    # An alias (SnapStart or provisioned concurrency) names its function with a Ref; locally both are one container.
    alias = _of_type(expanded, LAMBDA_ALIAS).get(found["target"])
    function = ((alias or {}).get("Properties") or {}).get("FunctionName")
    if not isinstance(function, Mapping) or "Ref" not in function:
        raise TemplateError(f"cannot tell which function {uri} invokes")
    return str(function["Ref"])


def _mock(integration: Mapping[str, Any]) -> dict[str, str]:
    if integration.get("type") != "mock":
        return {}
    default = (integration.get("responses") or {}).get("default") or {}
    return _headers(default.get("responseParameters") or {}, _RESPONSE_HEADER)


def _headers(parameters: Mapping[str, Any], prefix: str) -> dict[str, str]:
    return {name.removeprefix(prefix): str(value) for name, value in parameters.items() if name.startswith(prefix)}


def _function(name: str, expanded: Mapping[str, Any], source: Mapping[str, Any], base_dir: Path) -> FunctionSpec:
    properties = _of_type(expanded, LAMBDA_FUNCTION)[name]["Properties"]
    written = source["Resources"][name]
    globals_ = ((source.get("Globals") or {}).get("Function")) or {}
    code_uri = (written.get("Properties") or {}).get("CodeUri", globals_.get("CodeUri"))
    if written.get("Type") != SERVERLESS_FUNCTION or not isinstance(code_uri, str):
        raise TemplateError(f"{name} needs a local CodeUri folder")
    variables = (properties.get("Environment") or {}).get("Variables") or {}
    return FunctionSpec(
        logical_id=name,
        code_uri=(base_dir / code_uri).resolve(),
        handler=str(properties["Handler"]),
        # Lambda's defaults when the template says nothing: 3 s and 128 MB.
        timeout_s=float(properties.get("Timeout", 3)),
        memory_mb=int(properties.get("MemorySize", 128)),
        # What is still an intrinsic function (a GetAtt, a parameter with no value) only exists once deployed.
        environment={str(k): (str(v) if isinstance(v, str | int | float) else None) for k, v in variables.items()},
    )
