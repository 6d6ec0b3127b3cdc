"""Lambda entry point of bulk scoring: one batch of a Step Functions Distributed Map, scored and written to S3.

The bulk scoring state machine reads the uploaded file with its ItemReader, wraps each row as
{"index": $$.Map.Item.Index, "row": <the row>} (ItemSelector) and sends up to 250 of them per child execution
(ItemBatcher), with what every batch shares in BatchInput. A batched child's input, as Step Functions sends it:

    {"Items": [{"index": 0, "row": {"State": "PA", ...}}, ...], "BatchInput": {"key": "input/x.csv", "execution": "e"}}

The rows are scored by churn_api.bulk, exactly as /predict/batch answers them (same package, layer, settings and
time budget as the API's function), and written as one JSON Lines object per batch under the bucket's output/
prefix, named by the batch's first row so that a retried batch replaces its own object. A fault of S3 or the endpoint
fails the batch (BatchNotScored), which the state machine retries, then counts against its tolerated failures.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from pydantic import ValidationError
from pydantic_core import to_json

from churn_api import budget
from churn_api.budget import Deadline
from churn_api.bulk import BatchEvent, BatchNotScored, json_lines_record, output_key, score_rows
from churn_api.composition import churn_predictor, transformation_store
from churn_api.config import Settings, required
from churn_api.errors import ApiError, ErrorReporter
from churn_api.snapstart import fresh_session

# Writing the batch's object (a few hundred kB at most): connect 1 s + read 3 s, 2 attempts (a PUT of a whole object is
# safe to repeat), backoff at most 1 s: 9 s at worst, kept out of the scoring's budget so that both fit the Timeout.
WRITE_CONNECT_TIMEOUT_S = 1.0
WRITE_READ_TIMEOUT_S = 3.0
WRITE_ATTEMPTS = 2
WRITE_RESERVE_S = 9.0


settings = Settings.from_env()
output_bucket = required(os.environ, "BULK_BUCKET")
logger = Logger()
reporter = ErrorReporter(logger, os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "ChurnApi")
session = fresh_session()
s3 = session.client("s3", config=budget.s3_config())
writer = session.client(
    "s3",
    config=Config(
        connect_timeout=WRITE_CONNECT_TIMEOUT_S,
        read_timeout=WRITE_READ_TIMEOUT_S,
        retries={"mode": "standard", "total_max_attempts": WRITE_ATTEMPTS},
    ),
)
predictor = churn_predictor(
    settings,
    transformation_store(settings, s3),
    session.client("sagemaker-runtime", config=budget.sagemaker_runtime_config()),
)


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Score one batch of rows and write their answers to S3; return the counts and where they are."""
    try:
        batch = BatchEvent.model_validate(event)
    except ValidationError as exc:
        # The state machine's wiring, never a customer's row: fail the batch and say which field.
        raise ValueError(f"not a Distributed Map batch: {[e['loc'] for e in exc.errors()]}") from None
    deadline = Deadline.after(context.get_remaining_time_in_millis() / 1000 - budget.ANSWER_MARGIN_S - WRITE_RESERVE_S)
    rows = [item.row for item in batch.items]
    try:
        items = score_rows(predictor, rows, [item.index for item in batch.items], deadline)
    except ApiError as error:
        reporter.report(error)
        raise BatchNotScored(f"{error.code}: {error.message}") from None
    body = b"".join(to_json(json_lines_record(row, item)) + b"\n" for row, item in zip(rows, items, strict=True))
    key = output_key(batch)
    writer.put_object(Bucket=output_bucket, Key=key, Body=body, ContentType="application/x-ndjson")
    failed = sum(item["error"] is not None for item in items)
    logger.info("batch scored", extra={"rows": len(items), "failed": failed, "first_index": batch.items[0].index})
    return {"rows": len(items), "scored": len(items) - failed, "failed": failed, "output": key}
