"""Bulk scoring's shared part: a file's rows answered as /predict/batch answers each, and a scored row's output.

The deployed batch function (bulk_handler.py, behind a Step Functions Distributed Map) and the local command line
(local/churn_local/bulk/score.py) both score rows here, through ChurnPredictor.score_records: the path of
/predict/batch, with its validation, transformation, endpoint, threshold and time budget. A row's answer is the
batch item the API would answer for it (churn, label, score, or error with code, message and details), its index
being the row's place in the file (0 for the first row after a CSV header).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter

from churn_api.budget import Deadline
from churn_api.errors import ErrorDetail, InvalidRequest
from churn_api.models import BatchItem
from churn_api.predictor import ChurnPredictor
from churn_api.rules import MAX_BATCH_SIZE

# Rows scored per call: the API's own batch limit, so that one call is what one /predict/batch request would be.
CHUNK_ROWS = MAX_BATCH_SIZE
# The columns a CSV output adds after the input's own, in this order.
CSV_RESULT_COLUMNS = (
    "score",
    "label",
    "churn",
    "error_code",
    "error_message",
    "error_details",
    "model_version",
    "model_threshold",
)
_ITEMS = TypeAdapter(list[BatchItem])


@dataclass(frozen=True)
class Unreadable:
    """A row its file's reader could not turn into a record (e.g. not JSON): answered with this problem, not scored."""

    field: str
    problem: str


def score_rows(
    predictor: ChurnPredictor, records: Sequence[Any], indexes: Sequence[int], deadline: Deadline
) -> list[dict[str, Any]]:
    """Return each record's batch item as /predict/batch's JSON has it, in input order; indexes are file places.

    Raises the API's error for a fault of S3 or the endpoint (5xx): no row of the chunk is answered then.
    """
    readable = [(i, record) for i, record in zip(indexes, records, strict=True) if not isinstance(record, Unreadable)]
    results: list[dict[str, Any]] = []
    model = predictor.model
    if readable:
        results, _, model = predictor.score_records(
            [r for _, r in readable], deadline, indexes=[i for i, _ in readable]
        )
    if len(readable) < len(records):
        for i, record in zip(indexes, records, strict=True):
            if isinstance(record, Unreadable):
                detail = ErrorDetail(field=record.field, problem=record.problem, index=i)
                results.append({"index": i, "error": InvalidRequest("the record cannot be read", [detail]).info()})
        results.sort(key=lambda item: int(item["index"]))
    # Serialized as the API serializes its BatchResponse: every field, null where it does not apply; each row names
    # the model, as the batch's answer does.
    items: list[dict[str, Any]] = _ITEMS.dump_python(_ITEMS.validate_python(results), mode="json")
    named = model.model_dump(mode="json")
    return [{**item, "model": named} for item in items]


def json_lines_record(row: Any, item: dict[str, Any]) -> dict[str, Any]:
    """Return a JSON Lines output record: the batch item, then the input row as it was read."""
    return {**item, "row": row}


def csv_result_values(item: dict[str, Any]) -> list[str]:
    """Return the values of CSV_RESULT_COLUMNS for one batch item."""
    error = item["error"]
    model = item.get("model") or {}
    named = [str(model.get("version", "")), repr(model["threshold"]) if "threshold" in model else ""]
    if error is None:
        return [repr(item["score"]), item["label"], "true" if item["churn"] else "false", "", "", "", *named]
    details = json.dumps(error.get("details", []), ensure_ascii=False, separators=(",", ":"))
    return ["", "", "", error["code"], error["message"], details, *named]


# -- the deployed path: what a Step Functions Distributed Map sends each batch (bulk_handler.py) --------------------

INPUT_PREFIX = "input/"
OUTPUT_PREFIX = "output/"
# Step Functions names executions with letters, digits, - and _ (at most 80).
_EXECUTION_NAME = r"^[A-Za-z0-9_-]{1,80}$"


class BatchNotScored(RuntimeError):
    """The batch could not be scored for a reason of the service (5xx): Step Functions retries it by this name."""


class IndexedRow(BaseModel):
    """One item as the ItemSelector shapes it: the row's place in the file and the row as the ItemReader read it."""

    index: int = Field(ge=0)
    row: Any


class BatchInput(BaseModel):
    """What every batch of one execution shares."""

    key: str = Field(pattern=r"^input/[^\x00-\x1f]+$", max_length=1024)
    execution: str = Field(pattern=_EXECUTION_NAME)


class BatchEvent(BaseModel):
    """A Distributed Map child's input with an ItemBatcher."""

    items: list[IndexedRow] = Field(alias="Items", min_length=1)
    batch_input: BatchInput = Field(alias="BatchInput")


def output_key(batch: BatchEvent) -> str:
    """Return where a batch's answers go: output/<execution>/<input key below input/>/part-<first row>.jsonl."""
    name = batch.batch_input.key.removeprefix(INPUT_PREFIX)
    return f"{OUTPUT_PREFIX}{batch.batch_input.execution}/{name}/part-{batch.items[0].index:010d}.jsonl"
