"""Hostile input gets a 4xx naming the problem: never a 500, never a partial 200, never a logged traceback."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from botocore.stub import Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churn_local.lambda_runtime.context import LambdaContext
from churn_local.lambda_runtime.event_files import api_event, load_event, reference_payload
from tests.functional.conftest import MODEL, THRESHOLD, answer

HUGE_INTEGER = "9" * 5_000
DEEP = "[" * 100_000 + "]" * 100_000
ROUTES = ["/predict", "/predict/batch"]


def call(app: ModuleType, event: Any) -> Any:
    return app.lambda_handler(event, LambdaContext())


def error_of(response: dict[str, Any]) -> dict[str, Any]:
    error: dict[str, Any] = json.loads(response["body"])["error"]
    return error


def in_route(route: str, customer: str) -> str:
    """Embed a customer's JSON text in the body a route takes."""
    return customer if route == "/predict" else '{"customers": [' + customer + "]}"


@pytest.fixture
def logged(app_module: ModuleType) -> Iterator[io.StringIO]:
    """Capture what the function logs."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    app_module.logger.addHandler(handler)
    yield out
    app_module.logger.removeHandler(handler)


@pytest.mark.parametrize("customers", [1, 2])
def test_a_json_array_posted_to_predict_is_a_400_not_the_first_customer_scored(
    app_module: ModuleType, sagemaker: Stubber, customers: int
) -> None:
    response = call(app_module, api_event([reference_payload()] * customers))
    assert response["statusCode"] == 400
    assert error_of(response)["details"] == [{"field": "body", "problem": "must be a JSON object"}]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("customer", "problem"),
    [
        (json.dumps(reference_payload())[:-1] + f', "Day Calls": {HUGE_INTEGER}}}', "integer too long"),
        (json.dumps({**reference_payload(), "Day Calls": "X"})[:-1] + f', "extra": {DEEP}}}', "nested too deeply"),
    ],
    ids=["5000-digit-integer", "100000-deep-nesting"],
)
def test_numbers_and_nesting_python_cannot_read_are_a_400_without_a_traceback(
    app_module: ModuleType, sagemaker: Stubber, logged: io.StringIO, route: str, customer: str, problem: str
) -> None:
    response = call(app_module, api_event(in_route(route, customer), path=route))
    assert response["statusCode"] == 400
    (detail,) = error_of(response)["details"]
    assert detail["field"] == "body" and problem in detail["problem"]
    assert "Traceback" not in logged.getvalue()


@pytest.mark.parametrize("content_type", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8", "application/json"])
def test_the_json_media_type_is_case_insensitive(app_module: ModuleType, sagemaker: Stubber, content_type: str) -> None:
    answer(sagemaker, "0.5")
    response = call(app_module, api_event(reference_payload(), headers={"Content-Type": content_type}))
    assert response["statusCode"] == 200


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", "&".join(f"{k}={v}" for k, v in reference_payload().items())),
        (
            "multipart/form-data; boundary=XyZ",
            "".join(
                f'--XyZ\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                for k, v in reference_payload().items()
            )
            + "--XyZ--\r\n",
        ),
        ("Text/Plain", json.dumps(reference_payload())),
    ],
    ids=["form-urlencoded", "multipart", "text-plain"],
)
def test_only_json_is_scored_any_other_body_is_a_415(
    app_module: ModuleType, sagemaker: Stubber, route: str, content_type: str, body: str
) -> None:
    response = call(app_module, api_event(body, headers={"Content-Type": content_type}, path=route))
    assert response["statusCode"] == 415
    assert error_of(response)["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_a_direct_invocation_whose_customer_has_api_gateway_like_keys_is_scored(
    app_module: ModuleType, sagemaker: Stubber
) -> None:
    answer(sagemaker, "0.7")
    customer = {**reference_payload(), "httpMethod": "POST", "requestContext": {"note": "from a CRM export"}}
    assert call(app_module, customer) == {
        "churn": True,
        "label": "True",
        "score": 0.7,
        "threshold": THRESHOLD,
        "model": MODEL,
    }


def test_an_error_body_carries_the_request_id_to_quote(app_module: ModuleType, sagemaker: Stubber) -> None:
    event = load_event("api-predict-unknown-state")
    assert error_of(call(app_module, event))["requestId"] == event["requestContext"]["requestId"]
    context = LambdaContext()
    direct = app_module.lambda_handler(load_event("direct-unknown-state"), context)
    assert direct["error"]["requestId"] == context.aws_request_id


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


class AnyRowScored:
    """A sagemaker-runtime stand-in that scores every CSV row 0.5, so that any valid customer gets a 200."""

    def invoke_endpoint(self, *, Body: bytes, **_: Any) -> dict[str, Any]:  # noqa: N803 - boto3's names
        return {"Body": io.BytesIO(b"\n".join(b"0.5" for _ in Body.split(b"\n")))}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(ROUTES),
    body=json_values.map(json.dumps) | st.text(max_size=200),
    overrides=st.dictionaries(st.sampled_from(sorted(reference_payload())), json_values, max_size=3),
)
def test_no_body_is_answered_with_a_5xx_or_a_partial_200(
    app_module: ModuleType, monkeypatch: pytest.MonkeyPatch, route: str, body: str, overrides: dict[str, Any]
) -> None:
    monkeypatch.setattr(app_module.predictor.scorer, "client", AnyRowScored())
    # An arbitrary body, and the reference customer with a few fields replaced by arbitrary JSON values.
    for text in (body, in_route(route, json.dumps({**reference_payload(), **overrides}))):
        response = call(app_module, api_event(text, path=route))
        assert response["statusCode"] in (200, 400), response["body"]
        answered = json.loads(response["body"])
        if response["statusCode"] == 200 and route == "/predict/batch":
            assert answered["scored"] + answered["failed"] == len(answered["results"]) >= 1
