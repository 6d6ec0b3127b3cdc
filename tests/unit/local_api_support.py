"""Helpers for the local API's unit tests: the project template as SAM deploys it, requests, recording handlers."""

from __future__ import annotations

import functools
import json
from typing import Any

from churn_local.apigw import HttpRequest, HttpResponse, LocalApi
from churn_local.constants import TEMPLATE
from churn_local.template.provider import Application

# What `make serve` passes for the parameters that have no default.
PARAMETERS = {"EndpointName": "churn-xgboost", "TransformBucket": "churn-api-local"}
ORIGIN = "https://app.example.com"
KEY = "local-key-0123456789"
FUNCTION = "ChurnFunction"


@functools.cache
def _application(parameters: frozenset[tuple[str, str]]) -> Application:
    return Application.from_template(TEMPLATE, dict(parameters))


def application(**overrides: str) -> Application:
    """Return the project template as the local API reads it, for these parameter overrides (cached)."""
    return _application(frozenset({**PARAMETERS, **overrides}.items()))


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answer the event itself, so a test can read what the function received."""
    return {"statusCode": 200, "body": json.dumps(event)}


def recorder() -> tuple[list[dict[str, Any]], Any]:
    """Return a list of received events and a handler that appends to it."""
    events: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        events.append(event)
        return {"statusCode": 200, "body": "{}"}

    return events, handler


def local_api(handler: Any = echo, app: Application | None = None, **options: Any) -> LocalApi:
    """Return a LocalApi for the project template with `handler` as the function."""
    return LocalApi(app or application(), handlers={FUNCTION: handler}, static_dir=None, **options)


def request(method: str = "POST", target: str = "/predict", headers: Any = (), body: bytes = b"") -> HttpRequest:
    """Return a request as the HTTP server would hand it over."""
    return HttpRequest(method, target, tuple(headers), body, source_ip="192.0.2.7", server_port=3000)


def message(response: HttpResponse) -> str:
    """Return the `message` of a gateway response."""
    text: str = json.loads(response.body)["message"]
    return text
