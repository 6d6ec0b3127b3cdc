"""Call the SageMaker endpoint with CSV rows and read back one score per row."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from churn_api.errors import (
    ApiError,
    ModelBadResponse,
    ModelEndpointUnavailable,
    ModelError,
    ModelThrottled,
    ModelTimeout,
)

_SEPARATORS = re.compile(r"[,\s]+")


def parse_scores(body: bytes | str, expected: int) -> list[float]:
    """Read `expected` probabilities from one number, comma/newline-separated numbers, or JSON predictions."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    text = text.strip()
    if not text:
        raise ModelBadResponse("the model endpoint answered with an empty body")
    try:
        # A trailing separator ("0.81,") is common in CSV output; empty pieces are not scores.
        raw = _json_scores(json.loads(text)) if text[0] in "[{" else [v for v in _SEPARATORS.split(text) if v]
        scores = [float(v) for v in raw]
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelBadResponse("the model endpoint answered with something that is not a list of scores") from exc
    if len(scores) != expected:
        raise ModelBadResponse(f"the model endpoint returned {len(scores)} scores for {expected} rows")
    if not all(math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores):
        raise ModelBadResponse("the model endpoint returned a score outside [0, 1]")
    return scores


def _json_scores(doc: Any) -> list[Any]:
    if isinstance(doc, dict):
        doc = doc["predictions"]
    if not isinstance(doc, list):
        raise TypeError("predictions is not a list")
    return [item["score"] if isinstance(item, dict) else item for item in doc]


class EndpointScorer:
    """Invoke one SageMaker endpoint with `text/csv` and map its failures to API errors."""

    def __init__(self, sagemaker_runtime: Any, endpoint_name: str) -> None:
        self._client = sagemaker_runtime
        self.endpoint_name = endpoint_name

    def score(self, csv_rows: str, expected: int) -> list[float]:
        """Return one score per CSV row sent."""
        try:
            response = self._client.invoke_endpoint(
                EndpointName=self.endpoint_name, ContentType="text/csv", Body=csv_rows.encode("utf-8")
            )
            body = response["Body"].read()
        except ClientError as exc:
            raise self._client_error(exc) from exc
        except (ReadTimeoutError, ConnectTimeoutError) as exc:
            raise ModelTimeout(f"the model endpoint {self.endpoint_name} did not answer in time") from exc
        except (EndpointConnectionError, BotoCoreError) as exc:
            raise ModelEndpointUnavailable(f"cannot reach the model endpoint {self.endpoint_name}") from exc
        return parse_scores(body, expected)

    def _client_error(self, exc: ClientError) -> ApiError:
        # Error codes of SageMaker Runtime InvokeEndpoint (API reference, "Errors").
        code = exc.response.get("Error", {}).get("Code", "")
        name = self.endpoint_name
        if code == "ModelError":
            return ModelError(f"the model behind {name} rejected the request")
        if code in ("ThrottlingException", "TooManyRequestsException"):
            return ModelThrottled(f"the model endpoint {name} is throttling requests; retry later")
        if code == "ValidationError":
            # What SageMaker answers for an endpoint that does not exist ("Endpoint X of account Y not found.").
            return ModelEndpointUnavailable(f"the model endpoint {name} was not found or is not in service")
        return ModelEndpointUnavailable(f"the model endpoint {name} failed ({code or 'unknown error'})")
