"""Drift sampling: a share of the customers scored, written to the function's log for the scheduled drift check.

The carrier is the function's own log (stdout, one JSON line a customer), which Lambda ships to CloudWatch Logs after
the fact: nothing is called on the request path, it works whatever the endpoint (serverless endpoints have no data
capture), and the check reads the lines back with FilterLogEvents. A line holds the marker, the model version, the
score and the features the model reads, never Phone (Customer.features leaves it out).
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pydantic_core import to_json

from churn_api.models import Customer
from churn_api.provenance import ModelInfo

# The key that marks a sample line, and the term the drift check filters the log on.
SAMPLE_MARKER = "churn_drift_sample"


class DriftSampler:
    """Write each scored customer to the log with probability `rate`, with its score and the model version."""

    def __init__(
        self,
        rate: float,
        write: Callable[[str], Any] | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < rate <= 1:
            raise ValueError(f"a sample rate is above 0 and at most 1, got {rate}")
        self.rate = rate
        self.write = write
        self.draw = draw

    def __call__(self, customers: Sequence[Customer], scores: Sequence[float], model: ModelInfo) -> None:
        """Write the sampled customers as one JSON line each, then flush once."""
        lines = [
            to_json({SAMPLE_MARKER: 1, "version": model.version, "score": score, "features": customer.features()})
            for customer, score in zip(customers, scores, strict=True)
            if self.draw() < self.rate
        ]
        if lines:
            text = b"\n".join(lines).decode() + "\n"
            if self.write is not None:
                self.write(text)
            else:
                sys.stdout.write(text)
                sys.stdout.flush()  # in Lambda, the log line is then shipped whatever happens to the environment


def sample_of(message: str) -> dict[str, Any] | None:
    """Return the sample a log message holds (a JSON line carrying SAMPLE_MARKER), or None."""
    start = message.find("{")
    if start < 0 or SAMPLE_MARKER not in message:
        return None
    try:
        document = json.loads(message[start:])
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get(SAMPLE_MARKER) != 1:
        return None
    if not isinstance(document.get("features"), dict) or not isinstance(document.get("score"), float | int):
        return None
    return document
