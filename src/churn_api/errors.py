"""Errors that reach clients: each class carries its status, stable code and message, and renders itself.

One representation: an `ApiError` renders the `ErrorInfo` model directly, for an error body, a batch record and a
direct invocation alike. What explains a fault to an operator (a bucket, a key, an endpoint name, an exception's
text) goes in `internal`, which is logged and never answered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from churn_api.budget import LOAD_RETRY_AFTER_S
from churn_api.provenance import ModelInfo
from churn_api.rules import MAX_BATCH_SIZE, NUMBER_LIMIT


class ErrorDetail(BaseModel):
    """One thing wrong with one field."""

    field: str = Field(description="The reference field name, or `body`.", examples=["Day Mins"])
    problem: str = Field(examples=["is required"])
    index: int | None = Field(
        default=None, description="The record's position, in a batch.", exclude_if=lambda v: v is None
    )


class ErrorInfo(BaseModel):
    """What went wrong: a stable code, a sentence, per-field details for a 400, and the request's id."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    code: str = Field(examples=["VALIDATION_ERROR"])
    message: str
    details: list[ErrorDetail] = Field(default_factory=list, exclude_if=lambda v: not v)
    request_id: str | None = Field(
        default=None,
        alias="requestId",
        description="The request's id (API Gateway's, or Lambda's for a direct invocation): quote it to support.",
        exclude_if=lambda v: v is None,
    )


class ErrorBody(BaseModel):
    """The body of every error the function answers."""

    error: ErrorInfo
    model: ModelInfo | None = Field(
        default=None,
        description="The model the request reached, when the failure involved it (a scoring route's error).",
        exclude_if=lambda v: v is None,
    )


class ApiError(Exception):
    """Base of every error the API answers with instead of a result; itself, anything unforeseen."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    default_message: ClassVar[str] = "the service failed unexpectedly"
    when: ClassVar[str] = "anything unforeseen (logged with its trace, answered without it)"
    retry_after: int | None = None
    # The model the failing request reached, set by the predictor: rendered in the body beside the error.
    model: ModelInfo | None = None

    def __init__(
        self,
        message: str | None = None,
        details: Sequence[ErrorDetail] = (),
        *,
        internal: str = "",
        retry_after: int | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = list(details)
        self.internal = internal
        if retry_after is not None:
            self.retry_after = retry_after
        super().__init__(self.message)

    def info(self, request_id: str | None = None) -> ErrorInfo:
        """Return what the client is told about this error."""
        return ErrorInfo(code=self.code, message=self.message, details=self.details, requestId=request_id)

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        """Render the JSON error body every failure shares."""
        return ErrorBody(error=self.info(request_id), model=self.model).model_dump(mode="json")

    def headers(self) -> dict[str, str]:
        """Return the response headers: Retry-After when a retry can succeed."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


class InvalidRequest(ApiError):
    """The request body is not a valid customer (or batch of customers)."""

    status, code = 400, "VALIDATION_ERROR"
    default_message = "the request body is not valid"
    when = (
        f"a field is missing, not a number, negative or {NUMBER_LIMIT:,} and over, a boolean, or a category the "
        'model was never trained on (`State: "XX"` names the field and the value); the body is not a JSON object, not '
        "UTF-8, has an integer over 4,300 digits or nesting too deep to read"
    )


class NotFound(ApiError):
    """No route of the function matches the request."""

    status, code = 404, "NOT_FOUND"
    default_message = "no such route"
    when = "a path the function does not serve (e.g. `/swagger` while it is off)"


class PayloadTooLarge(ApiError):
    """The request holds more customers than one invocation may carry."""

    status, code = 413, "PAYLOAD_TOO_LARGE"
    when = f"more than {MAX_BATCH_SIZE:,} customers in a batch"


class UnsupportedMediaType(ApiError):
    """The request body is not declared as JSON."""

    status, code = 415, "UNSUPPORTED_MEDIA_TYPE"
    default_message = "send the body as JSON with Content-Type: application/json"
    when = (
        "the body is not sent as `Content-Type: application/json` (any case): `text/plain` (what `fetch()` sends "
        "unless told), form data, XML"
    )


class TransformationUnavailable(ApiError):
    """The preprocessing transformation could not be loaded from S3 or is not usable."""

    status, code = 500, "TRANSFORMATION_UNAVAILABLE"
    default_message = "the model's preprocessing cannot be loaded; retry later"
    when = (
        "the transformation cannot be read from S3 or is not usable; a failed load is retried after "
        f"{LOAD_RETRY_AFTER_S[0]} to {LOAD_RETRY_AFTER_S[-1]} s"
    )
    retry_after = LOAD_RETRY_AFTER_S[0]


class ModelError(ApiError):
    """The model container answered with an error."""

    status, code = 502, "MODEL_ERROR"
    default_message = "the model failed to score the request"
    when = "the model container answered an error (SageMaker `ModelError`, 424)"


class ModelBadResponse(ApiError):
    """The endpoint answered, but not with the scores we asked for."""

    status, code = 502, "MODEL_BAD_RESPONSE"
    default_message = "the model answered something that is not one score per customer"
    when = "the endpoint answered something that is not one score per row in [0, 1] (a boolean, not UTF-8...)"


class ModelEndpointUnavailable(ApiError):
    """The SageMaker endpoint does not exist, is not InService, failed, or cannot be reached."""

    status, code = 503, "MODEL_ENDPOINT_UNAVAILABLE"
    default_message = "the model endpoint is unavailable; retry later"
    when = (
        "the endpoint does not exist or is not InService (`ValidationError`), SageMaker failed "
        "(`ServiceUnavailable`, `InternalFailure`, `InternalDependencyException`), or cannot be reached"
    )
    retry_after = 5


class ModelNotReady(ApiError):
    """A serverless endpoint is still provisioning capacity."""

    status, code = 503, "MODEL_NOT_READY"
    default_message = "the model endpoint is scaling up; retry shortly"
    when = "a serverless endpoint is still provisioning (`ModelNotReadyException`, 429)"
    retry_after = 5


class ModelThrottled(ApiError):
    """SageMaker throttled the invocation."""

    status, code = 503, "MODEL_THROTTLED"
    default_message = "the model endpoint is busy; retry later"
    when = "SageMaker throttled the call (`ThrottlingException`)"
    retry_after = 1


class ModelTimeout(ApiError):
    """The endpoint did not answer within the request's time budget."""

    status, code = 504, "MODEL_TIMEOUT"
    default_message = "the model did not answer in time"
    when = "no answer within the request's time budget (never retried: SageMaker keeps working on the call)"


ERRORS: tuple[type[ApiError], ...] = (
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    TransformationUnavailable,
    ApiError,
    ModelError,
    ModelBadResponse,
    ModelEndpointUnavailable,
    ModelNotReady,
    ModelThrottled,
    ModelTimeout,
)
# What every scoring route can answer; the batch route adds PayloadTooLarge.
SCORING_ERRORS = tuple(e for e in ERRORS if e not in (NotFound, PayloadTooLarge))


def error_responses(errors: Iterable[type[ApiError]]) -> dict[int, OpenAPIResponse]:
    """Describe the error responses of a route, one per status, from the error classes themselves."""
    by_status: dict[int, list[type[ApiError]]] = {}
    for error in errors:
        by_status.setdefault(error.status, []).append(error)
    responses: dict[int, OpenAPIResponse] = {}
    for status, group in sorted(by_status.items()):
        response: OpenAPIResponse = {
            "description": "; ".join(f"{e.code}: {e.when}" for e in group),
            "content": {"application/json": {"model": ErrorBody}},
        }
        if retryable := [e.code for e in group if e.retry_after is not None]:
            retry_after = f"Seconds to wait before retrying ({', '.join(retryable)})."
            response["headers"] = {"Retry-After": {"description": retry_after, "schema": {"type": "integer"}}}
        responses[status] = response
    return responses


def problems_from(errors: Iterable[Mapping[str, Any]], index: int | None = None) -> list[ErrorDetail]:
    """Turn pydantic-style errors into per-field problems named by the reference field names."""
    problems = []
    for err in errors:
        if err.get("type") == "json_invalid":
            # The body parser (gateway.read_json) words its own problem; Powertools passes it in ctx.
            problems.append(ErrorDetail(field="body", problem=str(err.get("ctx", {}).get("error", "is not JSON"))))
            continue
        loc = [part for part in err.get("loc", ()) if part != "body"]
        field = ".".join(str(part) for part in loc) or "body"
        message = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        problems.append(
            ErrorDetail(field=field, problem="is required" if err.get("type") == "missing" else message, index=index)
        )
    return problems


class ErrorReporter:
    """Log and count failures by code and field names only: values may identify the customer."""

    def __init__(self, logger: Logger, namespace: str) -> None:
        self.logger = logger
        self.namespace = namespace

    def as_api_error(self, exc: BaseException) -> ApiError:
        """Return the API error that answers an exception, logging the trace of anything unforeseen."""
        if isinstance(exc, ApiError):
            return exc
        if isinstance(exc, RequestValidationError | PydanticValidationError):
            return InvalidRequest(details=problems_from(exc.errors()))
        if isinstance(exc, RequestUnsupportedContentType):
            return UnsupportedMediaType()
        if isinstance(exc, UnicodeDecodeError):
            return InvalidRequest(details=[ErrorDetail(field="body", problem="is not UTF-8 text")])
        self.logger.exception("unexpected failure")
        return ApiError()

    def report(self, error: ApiError) -> None:
        """Log one failure (its internal explanation included) and count it by code."""
        if error.status >= 500:
            # No traceback: a chained botocore error can quote the model container's message, and with it
            # request data. The cause's type and the internal explanation say what failed.
            cause = type(error.__cause__).__name__ if error.__cause__ else None
            self.logger.error(
                "request failed", extra={"error_code": error.code, "cause": cause, "internal": error.internal}
            )
        else:
            fields = [d.field for d in error.details]
            self.logger.info("request rejected", extra={"error_code": error.code, "fields": fields})
        with single_metric(name="Errors", unit=MetricUnit.Count, value=1, namespace=self.namespace) as metric:
            metric.add_dimension(name="ErrorCode", value=error.code)


def register_error_handlers(app: APIGatewayRestResolver, reporter: ErrorReporter) -> None:
    """Answer every failure of a route, and every unknown route, with the error body and its status."""

    def respond(error: ApiError) -> Response[Any]:
        reporter.report(error)
        return Response(
            status_code=error.status,
            content_type=content_types.APPLICATION_JSON,
            body=error.body(app.current_event.request_context.request_id),
            headers=error.headers(),
        )

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def on_error(exc: Exception) -> Response[Any]:
        return respond(reporter.as_api_error(exc))

    @app.not_found
    def on_not_found(exc: Exception) -> Response[Any]:
        event = app.current_event
        return respond(NotFound(f"no route for {event.http_method} {event.path}"))
