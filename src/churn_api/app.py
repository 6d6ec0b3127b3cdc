"""Lambda entry point: API Gateway REST proxy events and direct invocations with one customer."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from pydantic import ValidationError

from churn_api.config import Settings
from churn_api.errors import (
    ApiError,
    FieldProblem,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from churn_api.health import ReadinessCheck
from churn_api.models import (
    MAX_BATCH_SIZE,
    BatchItem,
    BatchRequest,
    BatchResponse,
    Customer,
    ErrorBody,
    ErrorInfo,
    Prediction,
    Readiness,
)
from churn_api.preprocessing import TransformationStore
from churn_api.scoring import EndpointScorer
from churn_api.service import ChurnPredictor

API_TITLE = "churn-api"
API_VERSION = "1.0.0"
API_DESCRIPTION = (
    "Score telecom customers for churn. POST one customer to /predict or up to "
    f"{MAX_BATCH_SIZE} to /predict/batch; field names are the reference payload's."
)

settings = Settings.from_env()
logger = Logger()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "ChurnApi")
tracer = Tracer()

# Clients are made once per container. The SageMaker read timeout keeps one retry inside the
# function timeout, which itself stays under API Gateway's 29 s integration timeout.
_sagemaker_config = Config(connect_timeout=2, read_timeout=8, retries={"mode": "standard", "max_attempts": 2})
_health_config = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 1})
transformations = TransformationStore(boto3.client("s3"), settings.transform_bucket, settings.transform_key)
predictor = ChurnPredictor(
    transformations,
    EndpointScorer(boto3.client("sagemaker-runtime", config=_sagemaker_config), settings.endpoint_name),
    settings.threshold,
    on_endpoint_latency=lambda ms: metrics.add_metric(name="EndpointLatency", unit=MetricUnit.Milliseconds, value=ms),
)
readiness = ReadinessCheck(transformations, boto3.client("sagemaker", config=_health_config), settings.endpoint_name)

cors = (
    CORSConfig(
        allow_origin=settings.cors_allow_origins[0],
        extra_origins=list(settings.cors_allow_origins[1:]),
        allow_headers=["Content-Type", "X-Api-Key"],
        expose_headers=["X-Amzn-RequestId"],
        max_age=600,
    )
    if settings.cors_allow_origins
    else None
)
app = APIGatewayRestResolver(enable_validation=True, cors=cors)

app.configure_openapi(title=API_TITLE, version=API_VERSION, description=API_DESCRIPTION)
if settings.enable_swagger:
    # Powertools inlines the Swagger UI assets in the page: no CDN, works offline.
    app.enable_swagger(path="/swagger", title=API_TITLE, version=API_VERSION)


def json_response(description: str, model: type[Any]) -> OpenAPIResponse:
    """Describe a JSON response with the model that shapes its body."""
    return {"description": description, "content": {"application/json": {"model": model}}}


ERROR_RESPONSES: dict[int, OpenAPIResponse] = {
    400: json_response("A field is missing or invalid (VALIDATION_ERROR, details per field)", ErrorBody),
    415: json_response("The body is not sent as application/json (UNSUPPORTED_MEDIA_TYPE)", ErrorBody),
    500: json_response(
        "The transformation cannot be loaded (TRANSFORMATION_UNAVAILABLE), or INTERNAL_ERROR", ErrorBody
    ),
    502: json_response("The model failed (MODEL_ERROR) or answered nonsense (MODEL_BAD_RESPONSE)", ErrorBody),
    503: json_response("The endpoint is missing or busy (MODEL_ENDPOINT_UNAVAILABLE, MODEL_THROTTLED)", ErrorBody),
    504: json_response("The endpoint did not answer in time (MODEL_TIMEOUT)", ErrorBody),
}


def record_predictions(predictions: Iterable[Prediction]) -> None:
    """Count predictions and churners; CloudWatch derives the churn rate from the two."""
    scored = list(predictions)
    churners = sum(p.churn for p in scored)
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=len(scored))
    metrics.add_metric(name="ChurnPredictions", unit=MetricUnit.Count, value=churners)
    if scored:
        metrics.add_metric(name="ChurnRate", unit=MetricUnit.Percent, value=100 * churners / len(scored))


def score_one(customer: Customer) -> Prediction:
    """Score one customer and count the prediction."""
    prediction = predictor.predict([customer])[0]
    record_predictions([prediction])
    return prediction


@app.post(
    "/predict",
    summary="Score one customer",
    responses={200: json_response("The prediction", Prediction), **ERROR_RESPONSES},
    tags=["predict"],
)
def predict(customer: Annotated[Customer, Body()]) -> Prediction:
    """Score one customer posted as JSON."""
    return score_one(customer)


@app.post(
    "/predict/batch",
    summary=f"Score 1 to {MAX_BATCH_SIZE} customers",
    description=(
        "Each record is validated on its own: bad records come back with their index and an error, "
        "and do not stop the others. If no record is valid, the answer is 400. "
        f"More than {MAX_BATCH_SIZE} records is answered with 413."
    ),
    responses={
        200: json_response("One result per record, in input order", BatchResponse),
        **ERROR_RESPONSES,
        413: json_response(f"More than {MAX_BATCH_SIZE} customers (PAYLOAD_TOO_LARGE)", ErrorBody),
    },
    tags=["predict"],
)
def predict_batch(batch: Annotated[BatchRequest, Body()]) -> BatchResponse:
    """Score many customers at once, in input order."""
    records: list[Any] = list(batch.customers)
    if len(records) > MAX_BATCH_SIZE:
        raise PayloadTooLarge(f"a batch holds at most {MAX_BATCH_SIZE} customers, this one has {len(records)}")
    outcomes = predictor.predict_batch([validate_record(i, record) for i, record in enumerate(records)])
    if not any(o.prediction for o in outcomes):
        details = [d for o in outcomes if o.error for d in o.error.details]
        raise InvalidRequest("no customer in the batch is valid", details)
    record_predictions(o.prediction for o in outcomes if o.prediction)
    results = [
        BatchItem(index=o.index, **o.prediction.model_dump(exclude={"threshold"}))
        if o.prediction
        else BatchItem(index=o.index, error=ErrorInfo(**error_of(o.error)))
        for o in outcomes
    ]
    failed = sum(1 for o in outcomes if o.error)
    return BatchResponse(results=results, scored=len(results) - failed, failed=failed, threshold=predictor.threshold)


def validate_record(index: int, record: Any) -> Customer | InvalidRequest:
    """Validate one batch record, turning its problems into an indexed error."""
    try:
        return Customer.model_validate(record)
    except ValidationError as exc:
        return InvalidRequest("the record is not a valid customer", problems_from(exc.errors(), index))


def error_of(error: ApiError | None) -> dict[str, Any]:
    """Return the inner `error` object of an API error body."""
    body: dict[str, Any] = error.body()["error"] if error else {}
    return body


@app.get("/health", summary="Liveness: the function answers", tags=["health"])
def health() -> dict[str, str]:
    """Answer at once, touching nothing else."""
    return {"status": "ok"}


@app.get(
    "/health/ready",
    summary="Readiness: the transformation loads and the endpoint is InService",
    responses={
        200: json_response("Ready", Readiness),
        503: json_response("Not ready; the body says which part is not", Readiness),
    },
    tags=["health"],
)
def health_ready() -> Response[dict[str, Any]]:
    """Check the transformation and DescribeEndpoint; 503 when either is not ready."""
    report = readiness.check()
    status = 200 if report["status"] == "ready" else 503
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=report)


def problems_from(errors: Iterable[Mapping[str, Any]], index: int | None = None) -> list[FieldProblem]:
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
        problems.append(FieldProblem(field, problem, index))
    return problems


def log_error(error: ApiError) -> None:
    """Log and count a failure by code and field names only: values may identify the customer."""
    if error.status >= 500:
        # No traceback: a chained botocore error can quote the model container's message, and with it request data.
        cause = type(error.__cause__).__name__ if error.__cause__ else None
        logger.error("request failed", extra={"error_code": error.code, "cause": cause})
    else:
        logger.info("request rejected", extra={"error_code": error.code, "fields": [d.field for d in error.details]})
    with single_metric(name="Errors", unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as metric:
        metric.add_dimension(name="ErrorCode", value=error.code)


def error_response(error: ApiError) -> Response[Any]:
    """Render an API error as the JSON body every failure shares."""
    log_error(error)
    return Response(status_code=error.status, content_type=content_types.APPLICATION_JSON, body=error.body())


@app.exception_handler(RequestValidationError)
def on_invalid_request(exc: RequestValidationError) -> Response[Any]:
    """Answer a body that does not match the model with a 400 naming each field."""
    return error_response(InvalidRequest("the request body is not valid", problems_from(exc.errors())))


def declares_json(headers: Mapping[str, str]) -> bool:
    """Tell whether a request's Content-Type is JSON (or absent, which Powertools reads as JSON)."""
    media_type = (headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def not_json() -> Response[Any]:
    """Answer a body declared as anything but JSON (fetch() defaults to text/plain) with a 415."""
    return error_response(UnsupportedMediaType("send the body as JSON with Content-Type: application/json"))


def unexpected_error() -> ApiError:
    """Log the exception being handled, with its trace, and return the 500 that leaks none of it."""
    logger.exception("unexpected failure")
    return ApiError("the service failed unexpectedly")


def unexpected() -> Response[Any]:
    """Answer anything unforeseen with a 500 that leaks no stack trace."""
    return error_response(unexpected_error())


@app.exception_handler(RequestUnsupportedContentType)
def on_unsupported_content_type(exc: RequestUnsupportedContentType) -> Response[Any]:
    """Refuse a content type Powertools does not parse."""
    return not_json()


@app.exception_handler(ValueError)
def on_value_error(exc: ValueError) -> Response[Any]:
    """Answer Powertools' form-data parsing failures (e.g. no multipart boundary) as 415; others as 500."""
    return unexpected() if declares_json(app.current_event.headers) else not_json()


@app.exception_handler(UnicodeDecodeError)
def on_undecodable_body(exc: UnicodeDecodeError) -> Response[Any]:
    """Answer a body that is not UTF-8 text, as JSON must be, with a 400."""
    return error_response(InvalidRequest("the request body is not valid", [FieldProblem("body", "is not UTF-8 text")]))


@app.exception_handler(ApiError)
def on_api_error(exc: ApiError) -> Response[Any]:
    """Answer a known failure with its status and stable code."""
    return error_response(exc)


@app.not_found
def on_not_found(exc: Exception) -> Response[Any]:
    """Answer a path the function does not serve (e.g. /swagger while it is off) with a JSON 404."""
    return error_response(NotFound(f"no route for {app.current_event.http_method} {app.current_event.path}"))


@app.exception_handler(Exception)
def on_unexpected(exc: Exception) -> Response[Any]:
    """Answer anything unforeseen with a 500 that leaks no stack trace."""
    return unexpected()


def invoke_direct(event: Any) -> dict[str, Any]:
    """Score the customer that a direct invocation (e.g. the Lambda console test) sends as the event."""
    try:
        return score_one(Customer.model_validate(event)).model_dump()
    except ValidationError as exc:
        error: ApiError = InvalidRequest("the event is not a valid customer", problems_from(exc.errors()))
    except ApiError as exc:
        error = exc
    except Exception:
        error = unexpected_error()
    log_error(error)
    return {"statusCode": error.status, **error.body()}


def is_api_gateway_event(event: Any) -> bool:
    """Tell an API Gateway proxy event from a customer sent as the event itself."""
    return isinstance(event, Mapping) and "httpMethod" in event and "requestContext" in event


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Route an API Gateway event through the resolver, or score a directly invoked customer."""
    try:
        if is_api_gateway_event(event):
            return app.resolve(event, context)
        return invoke_direct(event)
    finally:
        # Metrics are flushed as one EMF document per invocation; a health check may have none to flush.
        if metrics.metric_set:
            metrics.flush_metrics()
