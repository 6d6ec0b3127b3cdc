"""Lambda entry point: API Gateway REST proxy events and direct invocations with one customer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from pydantic import ValidationError

from churn_api.config import Settings
from churn_api.errors import ApiError, FieldProblem, InvalidRequest
from churn_api.models import Customer, Prediction
from churn_api.preprocessing import TransformationStore
from churn_api.scoring import EndpointScorer
from churn_api.service import ChurnPredictor

settings = Settings.from_env()
logger = Logger()

# Both clients are made once per container. The SageMaker read timeout keeps one retry inside the
# function timeout, which itself stays under API Gateway's 29 s integration timeout.
_sagemaker_config = Config(connect_timeout=2, read_timeout=8, retries={"mode": "standard", "max_attempts": 2})
predictor = ChurnPredictor(
    TransformationStore(boto3.client("s3"), settings.transform_bucket, settings.transform_key),
    EndpointScorer(boto3.client("sagemaker-runtime", config=_sagemaker_config), settings.endpoint_name),
    settings.threshold,
)

app = APIGatewayRestResolver(enable_validation=True)


@app.post("/predict", summary="Score one customer", responses={400: {"description": "Invalid customer"}})
def predict(customer: Annotated[Customer, Body()]) -> Prediction:
    """Score one customer posted as JSON."""
    return predictor.predict([customer])[0]


def problems_from(errors: Iterable[Mapping[str, Any]]) -> list[FieldProblem]:
    """Turn pydantic-style errors into per-field problems named by the reference field names."""
    problems = []
    for err in errors:
        kind = err.get("type")
        if kind == "json_invalid":
            problems.append(FieldProblem("body", "is not valid JSON"))
            continue
        loc = [part for part in err.get("loc", ()) if part != "body"]
        field = ".".join(str(part) for part in loc) or "body"
        message = str(err.get("msg", "is invalid"))
        problem = "is required" if kind == "missing" else message.removeprefix("Value error, ")
        problems.append(FieldProblem(field, problem))
    return problems


def log_error(error: ApiError) -> None:
    """Log a failure by code and field names only: values may identify the customer."""
    if error.status >= 500:
        logger.error("request failed", extra={"error_code": error.code}, exc_info=error)
    else:
        logger.info("request rejected", extra={"error_code": error.code, "fields": [d.field for d in error.details]})


def error_response(error: ApiError) -> Response[Any]:
    """Render an API error as the JSON body every failure shares."""
    log_error(error)
    return Response(status_code=error.status, content_type=content_types.APPLICATION_JSON, body=error.body())


@app.exception_handler(RequestValidationError)
def on_invalid_request(exc: RequestValidationError) -> Response[Any]:
    """Answer a body that does not match the model with a 400 naming each field."""
    return error_response(InvalidRequest("the request body is not a valid customer", problems_from(exc.errors())))


@app.exception_handler(ApiError)
def on_api_error(exc: ApiError) -> Response[Any]:
    """Answer a known failure with its status and stable code."""
    return error_response(exc)


@app.exception_handler(Exception)
def on_unexpected(exc: Exception) -> Response[Any]:
    """Answer anything unforeseen with a 500 that leaks no stack trace."""
    logger.exception("unexpected failure")
    return error_response(ApiError("the service failed unexpectedly"))


def invoke_direct(event: Any) -> dict[str, Any]:
    """Score the customer that a direct invocation (e.g. the Lambda console test) sends as the event."""
    try:
        customer = Customer.model_validate(event)
        return predictor.predict([customer])[0].model_dump()
    except ValidationError as exc:
        error: ApiError = InvalidRequest("the event is not a valid customer", problems_from(exc.errors()))
    except ApiError as exc:
        error = exc
    except Exception:
        logger.exception("unexpected failure")
        error = ApiError("the service failed unexpectedly")
    log_error(error)
    return {"statusCode": error.status, **error.body()}


def is_api_gateway_event(event: Any) -> bool:
    """Tell an API Gateway proxy event from a customer sent as the event itself."""
    return isinstance(event, Mapping) and "httpMethod" in event and "requestContext" in event


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Route an API Gateway event through the resolver, or score a directly invoked customer."""
    if is_api_gateway_event(event):
        return app.resolve(event, context)
    return invoke_direct(event)
