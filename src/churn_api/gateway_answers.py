"""What API Gateway answers itself, before the function runs, and how a deployment authenticates callers.

The function never sees these requests, so its error classes cannot describe them: API Gateway's own gateway
responses (Developer Guide, "Gateway response types for API Gateway"; the body is `{"message": ...}`, with the CORS
headers template.yaml's GatewayResponses add) and the two requirements a deployment may switch on (template.yaml:
RequireApiKey, CognitoUserPoolArn). They go into the OpenAPI document beside the function's own answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, SecurityScheme
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseContentModel
from pydantic import BaseModel, Field


class GatewayMessage(BaseModel):
    """The body of an answer API Gateway gives itself, without calling the function."""

    message: str = Field(examples=["Forbidden"])


@dataclass(frozen=True)
class GatewayAnswer:
    """One of API Gateway's own answers on the predict routes: its gateway response type, status and message."""

    response_type: str
    status: int
    message: str
    when: str


GATEWAY_ANSWERS = (
    GatewayAnswer(
        "UNAUTHORIZED",
        401,
        "Unauthorized",
        "deployed with CognitoUserPoolArn: no ID token in `Authorization`, or one the user pool did not issue or "
        "that has expired",
    ),
    GatewayAnswer(
        "INVALID_API_KEY",
        403,
        "Forbidden",
        "deployed with RequireApiKey=true: `x-api-key` is missing or is not a key of the stack's usage plan",
    ),
    GatewayAnswer(
        "REQUEST_TOO_LARGE",
        413,
        "Request Too Long",
        "the body is over API Gateway's 10 MB payload quota, or the event over Lambda's 6 MB request limit",
    ),
    GatewayAnswer(
        "THROTTLED",
        429,
        "Too Many Requests",
        "over the stage's (or the key's) rate or burst, ThrottleRateLimit/ThrottleBurstLimit",
    ),
    GatewayAnswer(
        "QUOTA_EXCEEDED",
        429,
        "Limit Exceeded",
        "deployed with RequireApiKey=true: the key has used its QuotaLimit for this QuotaPeriod",
    ),
)

SECURITY_SCHEMES: dict[str, SecurityScheme] = {
    "ApiKey": APIKey.model_validate(
        {
            "in": APIKeyIn.header,
            "name": "x-api-key",
            "description": "Required on the predict routes when the stack is deployed with RequireApiKey=true: the "
            "value of the usage plan's key (stack output ApiKeyId; `aws apigateway get-api-key --include-value`).",
        }
    ),
    "CognitoIdToken": APIKey.model_validate(
        {
            "in": APIKeyIn.header,
            "name": "Authorization",
            "description": "Required on the predict routes when the stack is deployed with CognitoUserPoolArn: an ID "
            "token (JWT) the user pool issued, as the header's value.",
        }
    ),
}
# Each requirement is the deployment's choice: none, the key, the token, or both (`{}` makes them optional here).
PREDICT_SECURITY: list[dict[str, list[str]]] = [{}, {"ApiKey": []}, {"CognitoIdToken": []}]
PREDICT_SECURITY.append({"ApiKey": [], "CognitoIdToken": []})


def describe(answer: GatewayAnswer) -> str:
    """Describe one answer as a part of a response's description, named so that it is never taken for a code."""
    return f'API Gateway\'s {answer.response_type} (`{{"message": "{answer.message}"}}`), {answer.when}'


def with_gateway_answers(responses: Mapping[int, OpenAPIResponse]) -> dict[int, OpenAPIResponse]:
    """Add API Gateway's own answers to a route's responses; a status both give documents either body."""
    merged = dict(responses)
    for status in sorted({answer.status for answer in GATEWAY_ANSWERS}):
        parts = "; ".join(describe(answer) for answer in GATEWAY_ANSWERS if answer.status == status)
        own = merged.get(status)
        # The function answers this status too (413 on the batch route): the body is either's.
        own_model: Any = own["content"]["application/json"]["model"] if own else None  # type: ignore[typeddict-item]
        body: OpenAPIResponseContentModel = {"model": own_model | GatewayMessage if own_model else GatewayMessage}
        description = f"{own['description']}; {parts}" if own else parts
        merged[status] = {**(own or {}), "description": description, "content": {"application/json": body}}
    return merged
