"""The answers API Gateway gives itself: gateway responses, the CORS preflight's mock, request-id headers.

- "Gateway response types for API Gateway" (Developer Guide): the types and their default status codes; the
  messages and x-amzn-ErrorType values are what deployed REST APIs send. The API's own customisation comes from
  `x-amazon-apigateway-gateway-responses` (the type's own entry, else DEFAULT_4XX / DEFAULT_5XX).
- Lambda Developer Guide, "Handling Lambda errors with an API Gateway API": a function error, a timeout of the
  function, or a response in the wrong format is a 502 `{"message": "Internal server error"}`; API Gateway's own
  29-second integration timeout is a 504 `{"message": "Endpoint request timed out"}` (INTEGRATION_TIMEOUT).
- The CORS preflight is SAM's mock integration: 200, its `responseParameters` as headers, the `{}` body.
SAM CLI's counterpart: aws/aws-sam-cli: samcli/local/apigw/service_error_responses.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from churn_local.apigw.events import HttpRequest, HttpResponse, RequestIds
from churn_local.template.provider import Method, RestApi, TemplateError


@dataclass(frozen=True)
class GatewayError:
    """One answer API Gateway gives itself: its gateway response type, default status, message and error type."""

    response_type: str
    status: int
    message: str
    error_type: str


# An unknown resource, or a method the resource does not have (TRACE /predict too).
MISSING_AUTHENTICATION_TOKEN = GatewayError(
    "MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token", "MissingAuthenticationTokenException"
)
# A missing key and a wrong key get the same answer: LocalStack's API Gateway raises INVALID_API_KEY "Forbidden" for
# both (localstack/localstack:
# localstack-core/localstack/services/apigateway/next_gen/execute_api/handlers/api_key_validation.py).
INVALID_API_KEY = GatewayError("INVALID_API_KEY", 403, "Forbidden", "ForbiddenException")
# A Cognito user pool authorizer found no token in its header, or one it cannot verify ("Gateway response types":
# UNAUTHORIZED, 401; AWS Knowledge Center "api-gateway-cognito-401-unauthorized").
UNAUTHORIZED = GatewayError("UNAUTHORIZED", 401, "Unauthorized", "UnauthorizedException")
THROTTLED = GatewayError("THROTTLED", 429, "Too Many Requests", "TooManyRequestsException")
REQUEST_TOO_LARGE = GatewayError("REQUEST_TOO_LARGE", 413, "Request Too Long", "RequestTooLongException")
# The event is over Lambda's 6 MB request limit: a REST API answers 413 with BadRequestException, as observed on a
# deployed REST API in koki-develop/lgtm-generator issue #10.
LAMBDA_PAYLOAD_TOO_LARGE = GatewayError("REQUEST_TOO_LARGE", 413, "Request Too Long", "BadRequestException")
# A function error, a function timeout or a malformed proxy response; only DEFAULT_5XX customises it.
INTERNAL_SERVER_ERROR = GatewayError("DEFAULT_5XX", 502, "Internal server error", "InternalServerErrorException")
# The integration did not answer within API Gateway's 29 s (the "Maximum integration timeout" quota).
INTEGRATION_TIMEOUT = GatewayError(
    "INTEGRATION_TIMEOUT", 504, "Endpoint request timed out", "InternalServerErrorException"
)
# A request the HTTP layer cannot read (a bad Content-Length, a broken chunked body).
BAD_REQUEST_BODY = GatewayError("BAD_REQUEST_BODY", 400, "Bad Request", "BadRequestException")


def request_id_headers(ids: RequestIds) -> tuple[tuple[str, str], ...]:
    """Return what every response of a REST API carries: its request id, its extended id, the X-Ray trace header."""
    return (
        ("x-amzn-RequestId", ids.request_id),
        ("x-amz-apigw-id", ids.extended_request_id),
        ("X-Amzn-Trace-Id", ids.trace_id),
    )


def stamped(response: HttpResponse, ids: RequestIds) -> HttpResponse:
    """Add the request-id headers: the one place they are added."""
    return HttpResponse(response.status, response.headers + request_id_headers(ids), response.body)


def gateway_response(
    error: GatewayError, api: RestApi | None = None, request: HttpRequest | None = None
) -> HttpResponse:
    """Answer the way API Gateway itself does, customised by the API's gateway responses (status and headers)."""
    custom: Mapping[str, object] = {}
    if api is not None:
        default = "DEFAULT_5XX" if error.status >= 500 else "DEFAULT_4XX"
        custom = api.gateway_responses.get(error.response_type) or api.gateway_responses.get(default) or {}
    status = int(str(custom.get("statusCode") or error.status))
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error.error_type)]
    for name, expression in dict(custom.get("headers") or {}).items():  # type: ignore[call-overload]
        value = mapped_value(expression, request)
        if value is not None:
            headers.append((str(name), value))
    # The default response template is {"message":$context.error.messageString}: compact JSON.
    body = json.dumps({"message": error.message}, separators=(",", ":")).encode()
    return HttpResponse(status, tuple(headers), body)


def mapped_value(expression: object, request: HttpRequest | None) -> str | None:
    """Evaluate a header mapping expression: a quoted literal ('value') or method.request.header.<name>."""
    text = str(expression)
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    prefix = "method.request.header."
    if text.startswith(prefix):
        return request.header(text[len(prefix) :]) if request is not None else None
    raise TemplateError(f"the local API cannot evaluate the mapping expression {text!r}")


def preflight_response(method: Method, request: HttpRequest) -> HttpResponse:
    """Answer OPTIONS like SAM's mock integration: 200, its response parameters as headers, the `{}` body."""
    headers = [("Content-Type", "application/json")]
    for name, expression in method.mock_headers.items():
        value = mapped_value(expression, request)
        if value is not None:
            headers.append((name, value))
    return HttpResponse(200, tuple(headers), b"{}")
