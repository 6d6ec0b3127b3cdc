"""What the local API reads from template.yaml: SAM's own decisions for this project's parameters."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from churn_local.constants import PROJECT_ROOT
from churn_local.lambda_runtime.invoke import function_environment
from churn_local.template.provider import TemplateError
from tests.unit.local_api_support import FUNCTION, ORIGIN, application

# Swagger UI serves the OpenAPI document; Powertools leaves its own route out of it.
SWAGGER_UI = ("GET", "/swagger")


def test_the_templates_routes_are_the_openapi_documents_paths_and_swagger_ui() -> None:
    document = json.loads((PROJECT_ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    documented = {(verb.upper(), path) for path, item in document["paths"].items() for verb in item}

    served = {(m.http_method, m.resource) for m in application().api.methods.values() if m.function}

    assert served == documented | {SWAGGER_UI}


def test_every_route_invokes_the_churn_function_configured_as_in_the_template() -> None:
    app = application(Threshold="0.5")
    spec = app.functions[FUNCTION]

    assert set(app.functions) == {FUNCTION}
    assert spec.handler == "churn_api.app.lambda_handler"
    assert spec.code_uri == PROJECT_ROOT / "src"
    # From the template's Globals, merged by SAM.
    assert (spec.timeout_s, spec.memory_mb) == (25, 1024)
    assert spec.environment["THRESHOLD"] == "0.5"
    assert spec.environment["ENDPOINT_NAME"] == "churn-xgboost"


@pytest.mark.parametrize("require", ["true", "false"])
def test_keys_guard_exactly_the_predict_routes_when_required_and_never_a_preflight(require: str) -> None:
    methods = application(RequireApiKey=require).api.methods.values()

    keyed = {(m.http_method, m.resource) for m in methods if m.api_key_required}

    assert keyed == ({("POST", "/predict"), ("POST", "/predict/batch")} if require == "true" else set())


def test_each_resource_has_a_mock_preflight_with_the_origin_parameter() -> None:
    api = application(CorsAllowOrigin=ORIGIN).api

    preflights = {m.resource: m for m in api.methods.values() if m.http_method == "OPTIONS"}

    assert set(preflights) == set(api.resources)
    assert all(m.function is None for m in preflights.values())
    assert preflights["/predict"].mock_headers["Access-Control-Allow-Origin"] == f"'{ORIGIN}'"


def test_the_gateway_responses_and_the_stage_throttling_come_from_the_template() -> None:
    api = application(CorsAllowOrigin=ORIGIN, ThrottleRateLimit="5", ThrottleBurstLimit="7", StageName="v1").api

    assert api.stage == "v1"
    assert set(api.gateway_responses) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    assert api.gateway_responses["DEFAULT_4XX"]["headers"]["Access-Control-Allow-Origin"] == f"'{ORIGIN}'"
    assert api.throttle("/predict", "POST") == (5.0, 7)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"RequireApiKey": "yes"}, "RequireApiKey"),
        ({"CorsAllowOrigin": "http://example.com/path"}, "CorsAllowOrigin"),
        ({"CorsAllowOrigin": "*"}, "CorsAllowOrigin"),
        ({"ThrottleRateLimit": "0"}, "ThrottleRateLimit"),
        ({"ThrottleRateLimit": "fast"}, "ThrottleRateLimit"),
        ({"Nope": "x"}, "Nope"),
    ],
)
def test_a_parameter_value_cloudformation_would_refuse_is_refused_before_serving(
    overrides: dict[str, str], named: str
) -> None:
    with pytest.raises(TemplateError, match=named):
        application(**overrides)


def test_a_variable_without_a_value_must_be_supplied_before_loading() -> None:
    app = application()
    spec = app.functions[FUNCTION]
    partial = replace(app, functions={FUNCTION: replace(spec, environment={**spec.environment, "ENDPOINT_NAME": None})})

    with pytest.raises(TemplateError, match="ENDPOINT_NAME"):
        function_environment(partial, {})
    assert function_environment(partial, {"ENDPOINT_NAME": "given"})["ENDPOINT_NAME"] == "given"


def test_environment_overrides_win_and_undeclared_ones_are_passed_on() -> None:
    env = function_environment(application(), {"THRESHOLD": "0.7", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1"})

    assert env["THRESHOLD"] == "0.7"
    assert env["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:1"
    assert env["ENDPOINT_NAME"] == "churn-xgboost"
