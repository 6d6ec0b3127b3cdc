"""Call the SageMaker endpoint with CSV rows, read back one score per row, and map every failure to an API error."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,  # noqa: A004 - botocore's, the name it raises under
    ConnectTimeoutError,
    ReadTimeoutError,
)

from churn_api.budget import INVOKE_ATTEMPTS, INVOKE_BACKOFF_S, INVOKE_MIN_ATTEMPT_S, Deadline
from churn_api.errors import (
    ApiError,
    ModelBadResponse,
    ModelEndpointUnavailable,
    ModelError,
    ModelNotReady,
    ModelThrottled,
    ModelTimeout,
)
from churn_api.rules import are_probabilities

_SEPARATORS = re.compile(r"[,\s]+")

# InvokeEndpoint's documented errors (SageMaker API Reference, InvokeEndpoint, "Errors":
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html#API_runtime_InvokeEndpoint_Errors,
# and botocore's sagemaker-runtime service model): InternalDependencyException 530, InternalFailure 500,
# ModelError 424, ModelNotReadyException 429, ServiceUnavailable 503, ValidationError 400; plus the common
# ThrottlingException 400. None is retried here: SageMaker received the call, and the client gets Retry-After.
CLIENT_ERRORS: dict[str, type[ApiError]] = {
    "ValidationError": ModelEndpointUnavailable,  # "Endpoint X of account Y not found." or not InService
    "ModelError": ModelError,
    "ModelNotReadyException": ModelNotReady,
    "ThrottlingException": ModelThrottled,
    "TooManyRequestsException": ModelThrottled,
    "ServiceUnavailable": ModelEndpointUnavailable,
    "InternalFailure": ModelEndpointUnavailable,
    "InternalDependencyException": ModelEndpointUnavailable,
}


def parse_scores(body: bytes | str, expected: int) -> list[float]:
    """Read `expected` probabilities from one number, comma/newline-separated numbers, or JSON predictions."""
    try:
        text = (body.decode("utf-8") if isinstance(body, bytes) else body).strip()
    except UnicodeDecodeError as exc:
        raise ModelBadResponse(internal="the endpoint's answer is not UTF-8") from exc
    if not text:
        raise ModelBadResponse(internal="the endpoint answered with an empty body")
    try:
        # A trailing separator ("0.81,") is common in CSV output; empty pieces are not scores.
        if text[0] in "[{":
            raw = _json_scores(json.loads(text))
            if any(isinstance(v, bool) for v in raw):
                raise TypeError("a boolean is not a probability")
        else:
            raw = [v for v in _SEPARATORS.split(text) if v]
        scores = [float(v) for v in raw]
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise ModelBadResponse(internal="the endpoint's answer is not a list of scores") from exc
    if len(scores) != expected:
        raise ModelBadResponse(internal=f"the endpoint returned {len(scores)} scores for {expected} rows")
    if not are_probabilities(scores):
        raise ModelBadResponse(internal="the endpoint returned a score outside [0, 1]")
    return scores


def _json_scores(doc: Any) -> list[Any]:
    if isinstance(doc, dict):
        doc = doc["predictions"]
    if not isinstance(doc, list):
        raise TypeError("predictions is not a list")
    return [item["score"] if isinstance(item, dict) else item for item in doc]


class EndpointScorer:
    """Invoke one SageMaker endpoint with `text/csv`, at most INVOKE_ATTEMPTS times within a deadline."""

    def __init__(self, client: Any, endpoint_name: str) -> None:
        self.client = client
        self.endpoint_name = endpoint_name

    def score(self, csv_rows: str, expected: int, deadline: Deadline) -> list[float]:
        """Return one score per CSV row sent; try once more only when the first call never reached SageMaker."""
        return self.score_with_variant(csv_rows, expected, deadline)[0]

    def score_with_variant(self, csv_rows: str, expected: int, deadline: Deadline) -> tuple[list[float], str | None]:
        """Return one score per CSV row sent and the production variant SageMaker names as having scored them."""
        for attempt in range(1, INVOKE_ATTEMPTS + 1):
            try:
                body, variant = self._invoke(csv_rows)
                return parse_scores(body, expected), variant
            except _Retryable as exc:
                enough_left = deadline.remaining() >= INVOKE_BACKOFF_S + INVOKE_MIN_ATTEMPT_S
                if attempt == INVOKE_ATTEMPTS or not enough_left:
                    raise exc.error from exc.__cause__
                time.sleep(INVOKE_BACKOFF_S)
        raise AssertionError("unreachable")  # pragma: no cover

    def _invoke(self, csv_rows: str) -> tuple[bytes, str | None]:
        where = f"endpoint {self.endpoint_name}"
        try:
            response = self.client.invoke_endpoint(
                EndpointName=self.endpoint_name, ContentType="text/csv", Body=csv_rows.encode("utf-8")
            )
            body: bytes = response["Body"].read()
            return body, response.get("InvokedProductionVariant")
        except ClientError as exc:
            # Never the service's message: ModelError quotes the container, which may quote the request.
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            error = CLIENT_ERRORS.get(code, ModelEndpointUnavailable)(internal=f"{where} answered {code} ({status})")
            if code == "ValidationError":
                error.retry_after = None  # missing or not InService until someone deploys it: no point retrying soon
            raise error from exc
        except ReadTimeoutError as exc:
            # SageMaker goes on computing the first call: a second one would only double its load.
            raise ModelTimeout(internal=f"{where} did not answer within the read timeout") from exc
        except (ConnectTimeoutError, ConnectionError) as exc:
            # Nothing was sent (refused, unresolvable, connect timeout): safe to try once more.
            raise _Retryable(ModelEndpointUnavailable(internal=f"cannot connect to {where}")) from exc
        except BotoCoreError as exc:
            raise ModelEndpointUnavailable(internal=f"{where} failed: {type(exc).__name__}") from exc


class _Retryable(Exception):
    """A failure after which SageMaker did no work, carrying the API error to answer if no retry is left."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.code)
        self.error = error
