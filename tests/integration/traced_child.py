"""What the tracing test runs in a child process set up as Lambda: import the function, score the reference customer."""

from __future__ import annotations

import sys

from churn_local.lambda_runtime.context import LambdaContext
from churn_local.lambda_runtime.event_files import api_event, reference_payload


def score_one_customer_in_lambda() -> None:
    """Import the function as Lambda would and score the reference customer; print its status and what it imported."""
    import churn_api.app as app  # noqa: PLC0415 - after Lambda's environment is set, as in Lambda

    answer = app.lambda_handler(api_event(reference_payload()), LambdaContext())
    print("STATUS", answer["statusCode"], flush=True)
    print("SQLITE3", "sqlite3" in sys.modules, flush=True)
