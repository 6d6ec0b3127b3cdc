"""Errors that reach clients: each has an HTTP status and a stable machine-readable code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one field of a request."""

    field: str
    problem: str
    index: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Render for the JSON error body, leaving out an absent index."""
        body: dict[str, Any] = {"field": self.field, "problem": self.problem}
        if self.index is not None:
            body["index"] = self.index
        return body


@dataclass
class ApiError(Exception):
    """Base of every error the API answers with instead of a result."""

    message: str
    details: list[FieldProblem] = field(default_factory=list)
    status = 500
    code = "INTERNAL_ERROR"

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        """Render the JSON error body every failure shares."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = [d.as_dict() for d in self.details]
        return {"error": error}


class InvalidRequest(ApiError):
    """The request body is not a valid customer (or batch of customers)."""

    status = 400
    code = "VALIDATION_ERROR"


class NotFound(ApiError):
    """No route of the function matches the request."""

    status = 404
    code = "NOT_FOUND"


class UnsupportedMediaType(ApiError):
    """The request body is not declared as JSON."""

    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


class PayloadTooLarge(ApiError):
    """The request holds more customers than one invocation may carry."""

    status = 413
    code = "PAYLOAD_TOO_LARGE"


class TransformationUnavailable(ApiError):
    """The preprocessing transformation could not be loaded from S3 or is malformed."""

    status = 500
    code = "TRANSFORMATION_UNAVAILABLE"


class ModelEndpointUnavailable(ApiError):
    """The SageMaker endpoint does not exist, is not InService, or cannot be reached."""

    status = 503
    code = "MODEL_ENDPOINT_UNAVAILABLE"


class ModelThrottled(ApiError):
    """SageMaker throttled the invocation; the client may retry later."""

    status = 503
    code = "MODEL_THROTTLED"


class ModelTimeout(ApiError):
    """The endpoint did not answer in time."""

    status = 504
    code = "MODEL_TIMEOUT"


class ModelError(ApiError):
    """The model container answered with an error."""

    status = 502
    code = "MODEL_ERROR"


class ModelBadResponse(ApiError):
    """The endpoint answered, but not with the scores we asked for."""

    status = 502
    code = "MODEL_BAD_RESPONSE"
