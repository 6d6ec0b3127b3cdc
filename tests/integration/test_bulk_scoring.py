"""Bulk scoring on the local stack: each row of the data set answered as /predict/batch answers it on the same stack."""

from __future__ import annotations

import csv
import importlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest

from churn_api.predictor import ChurnPredictor
from churn_local.bulk import resume
from churn_local.bulk.score import CHUNK_ATTEMPTS, BulkRun, ScoringStopped, local_stack_environment, predictor_from
from churn_local.constants import PROJECT_ROOT, TEMPLATE
from churn_local.lambda_runtime.context import LambdaContext
from churn_local.services import faults
from churn_local.template.expansion import as_packaged, load_template
from churn_local.training import dataset
from tests.integration.conftest import Stack, clean_environment, send
from tests.integration.fault_answers import switch

# Bad rows inserted into the data set: (place in the file, what is done to a real row).
BAD_ROWS = {
    0: ("State", "XX"),  # a category the model was never trained on
    999: ("Day Mins", "lots"),  # not a number
    1000: ("Account Length", "-5"),  # negative
    2500: ("Int'l Plan", ""),  # empty category
}
SHORT_ROW_AT = 3000  # a row cut after five values: the missing columns are required
LONG_ROW_AT = 4000  # a row with one value more than the header names


def score_file(stack: Stack, artifacts: Path, source: Path, output: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run make score's entry point against the stack, as `make score IN=... OUT=...` does."""
    command = [sys.executable, "-m", "churn_local.bulk.score", str(source), str(output), "--artifacts", str(artifacts)]
    command += ["--s3-url", stack.s3_url, "--endpoint-url", stack.endpoint_url, *extra]
    return subprocess.run(
        command, cwd=PROJECT_ROOT, env=clean_environment(), capture_output=True, text=True, timeout=300, check=False
    )


def data_set_with_bad_rows() -> tuple[list[str], list[list[str]], str]:
    """Return the data set's header, its rows with the bad ones inserted, and its line ending (CRLF)."""
    text = dataset.DATA_PATH.read_bytes().decode("utf-8")
    assert "\r\n" in text and not text.endswith("\n")  # the data set as shipped
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    for place, (column, value) in sorted(BAD_ROWS.items()):
        bad = list(rows[place])
        bad[header.index(column)] = value
        rows.insert(place, bad)
    rows.insert(SHORT_ROW_AT, rows[SHORT_ROW_AT][:5])
    rows.insert(LONG_ROW_AT, [*rows[LONG_ROW_AT], "one too many"])
    return header, rows, "\r\n"


def api_answers(stack: Stack, records: Sequence[tuple[int, Any]]) -> dict[int, dict[str, Any]]:
    """POST the records to /predict/batch, 1,000 at a time; return each item keyed by the record's place in the file."""
    answers: dict[int, dict[str, Any]] = {}
    for start in range(0, len(records), 1000):
        places = [place for place, _ in records[start : start + 1000]]
        reply = send(
            "POST", f"{stack.api_url}/predict/batch", {"customers": [r for _, r in records[start : start + 1000]]}
        )
        assert reply.status == 200, reply.body
        for item in reply.json()["results"]:
            # The batch's own index, as the file's: what one /predict/batch holding the whole file would answer.
            item["index"] = places[item["index"]]
            for detail in (item["error"] or {}).get("details", []):
                detail["index"] = places[detail["index"]]
            answers[item["index"]] = item
    return answers


def bulk_item(row: dict[str, str], place: int) -> dict[str, Any]:
    """Return the batch item a CSV output row carries."""
    if row["error_code"]:
        error = {"code": row["error_code"], "message": row["error_message"]}
        if details := json.loads(row["error_details"]):
            error["details"] = details
        return {"index": place, "churn": None, "label": None, "score": None, "error": error}
    churn = {"true": True, "false": False}[row["churn"]]
    return {"index": place, "churn": churn, "label": row["label"], "score": float(row["score"]), "error": None}


def test_every_row_of_the_data_set_gets_the_answer_of_predict_batch_on_the_same_stack(
    stack: Stack, trained_artifacts: Path, tmp_path: Path
) -> None:
    # GIVEN the 5,000 real rows (CRLF, no final newline, Phone and Churn? included) with six bad rows among them
    header, rows, newline = data_set_with_bad_rows()
    source = tmp_path / "customers.csv"
    lines = io.StringIO()
    csv.writer(lines, lineterminator=newline).writerows([header, *rows])
    source.write_bytes(lines.getvalue().removesuffix(newline).encode("utf-8"))
    # WHEN make score's entry point scores the file
    done = score_file(stack, trained_artifacts, source, tmp_path / "scored.csv")
    # THEN it reports every row, and the output holds each input row whole, its columns carried through
    assert done.returncode == 0, done.stderr
    assert f"{len(rows):,} rows, {len(rows) - 6:,} scored, 6 failed" in done.stdout
    with (tmp_path / "scored.csv").open(encoding="utf-8", newline="") as file:
        output = list(csv.DictReader(file))
    assert len(output) == len(rows) == 5006
    assert [[row[c] for c in header] for row in output[:10]] == rows[:10]
    assert output[SHORT_ROW_AT]["Churn?"] == "" and output[1]["Churn?"] in ("True.", "False.")
    # AND every row's answer is the item /predict/batch answers for the same record on the same stack
    records = [(place, dict(zip(header, values, strict=False))) for place, values in enumerate(rows)]
    expected = api_answers(stack, [(place, record) for place, record in records if place != LONG_ROW_AT])
    for place, row in enumerate(output):
        if place != LONG_ROW_AT:
            assert bulk_item(row, place) == expected[place], place
    errors = {place: expected[place]["error"]["code"] for place in expected if expected[place]["error"]}
    assert set(errors) == {*BAD_ROWS, SHORT_ROW_AT}
    # AND a row the header cannot hold is refused with its own error, the others scored around it
    assert bulk_item(output[LONG_ROW_AT], LONG_ROW_AT)["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "the record cannot be read",
        "details": [{"field": "row", "problem": "has 22 values, the header names 21 columns", "index": LONG_ROW_AT}],
    }


def test_json_lines_rows_get_the_answer_of_predict_batch_and_a_line_that_is_not_json_its_own_error(
    stack: Stack, trained_artifacts: Path, tmp_path: Path
) -> None:
    # GIVEN 1,500 real customers as JSON objects, numbers as JSON numbers in every other one, a broken line and blanks
    header, rows, _ = data_set_with_bad_rows()
    records: list[Any] = []
    for place, values in enumerate(rows[:1500]):
        record: dict[str, Any] = dict(zip(header, values, strict=False))
        if place % 2:
            record = {
                k: _number(v) if k not in ("State", "Phone", "Int'l Plan", "VMail Plan") else v
                for k, v in record.items()
            }
        records.append(record)
    lines = [json.dumps(r) for r in records]
    lines.insert(700, '{"State": "KS", "Account Length": ')
    lines.insert(10, "")
    source = tmp_path / "customers.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # WHEN make score's entry point scores it
    done = score_file(stack, trained_artifacts, source, tmp_path / "scored.jsonl")
    assert done.returncode == 0, done.stderr
    output = [json.loads(line) for line in (tmp_path / "scored.jsonl").read_text(encoding="utf-8").splitlines()]
    # THEN the blank line is no row; every other line is, with its answer and the row as read
    assert len(output) == 1501
    broken = output.pop(700)
    assert broken["row"] == '{"State": "KS", "Account Length": '
    assert broken["error"]["details"] == [{"field": "line", "problem": "is not valid JSON", "index": 700}]
    places = [p if p < 700 else p + 1 for p in range(1500)]
    expected = api_answers(stack, list(zip(places, records, strict=True)))
    assert [{k: v for k, v in item.items() if k != "row"} for item in output] == [expected[p] for p in places]
    assert [item["row"] for item in output] == records


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


@pytest.fixture
def stack_predictor(stack: Stack, trained_artifacts: Path, monkeypatch: pytest.MonkeyPatch) -> ChurnPredictor:
    """Return the predictor make score builds for the stack, in this process (boto3 reads the local endpoints)."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    environment = local_stack_environment(trained_artifacts, stack.s3_url, stack.endpoint_url)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return predictor_from(environment)


class Interrupt(KeyboardInterrupt):
    """Ctrl-C, pressed from a progress callback."""


def test_a_run_interrupted_and_torn_mid_row_continues_where_it_stopped_to_the_same_bytes(
    stack_predictor: ChurnPredictor, tmp_path: Path
) -> None:
    # GIVEN a run of the data set stopped by Ctrl-C after 2,000 rows, with half a row written after them
    def interrupt(progress: resume.Progress) -> None:
        if progress.rows >= 2000:
            raise Interrupt

    interrupted = BulkRun(stack_predictor, dataset.DATA_PATH, tmp_path / "out.csv", fmt="csv", chunk_rows=500)
    with pytest.raises(Interrupt):
        interrupted.run(on_chunk=interrupt)
    with (tmp_path / "out.csv").open("ab") as torn:
        torn.write(b"PA,163,806,403-2562,no,y")
    # WHEN the same command runs again
    summary = BulkRun(stack_predictor, dataset.DATA_PATH, tmp_path / "out.csv", fmt="csv", chunk_rows=500).run()
    # THEN it scores only the rest, and the output is byte for byte that of a run never interrupted
    assert (summary.resumed_at, summary.run_rows, summary.rows, summary.failed) == (2000, 3000, 5000, 0)
    BulkRun(stack_predictor, dataset.DATA_PATH, tmp_path / "whole.csv", fmt="csv").run()
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    # AND a complete output is left alone by a rerun
    again = BulkRun(stack_predictor, dataset.DATA_PATH, tmp_path / "out.csv", fmt="csv").run()
    assert (again.rows, again.run_rows) == (5000, 0)


def test_an_endpoint_fault_stops_the_run_after_its_attempts_and_a_rerun_finishes_it(
    stack: Stack, stack_predictor: ChurnPredictor, tmp_path: Path
) -> None:
    # GIVEN an endpoint that answers 503 once the first 1,000 rows are scored
    waits: list[float] = []

    def fail_after_first_chunk(progress: resume.Progress) -> None:
        if progress.rows == 1000:
            switch(stack.endpoint_url, "unavailable")

    run = BulkRun(stack_predictor, dataset.DATA_PATH, tmp_path / "out.csv", fmt="csv", parallel=1, sleep=waits.append)
    try:
        # WHEN the file is scored
        with pytest.raises(ScoringStopped) as stopped:
            run.run(on_chunk=fail_after_first_chunk)
    finally:
        switch(stack.endpoint_url, faults.NONE)
    # THEN the run stops at the first row not scored, with the API's code, after waiting Retry-After between attempts
    assert stopped.value.error.code == "MODEL_ENDPOINT_UNAVAILABLE"
    assert "row 1,000" in str(stopped.value)
    assert waits == [5.0] * (CHUNK_ATTEMPTS - 1)
    assert resume.load(tmp_path / "out.csv").rows == 1000  # type: ignore[union-attr]
    # AND once the endpoint is back, the same run continues to the end
    summary = BulkRun(stack_predictor, dataset.DATA_PATH, tmp_path / "out.csv", fmt="csv").run()
    assert (summary.resumed_at, summary.rows, summary.scored) == (1000, 5000, 5000)


def test_the_functions_variables_from_the_environment_score_as_the_local_stack_mode_does(
    stack: Stack, trained_artifacts: Path, tmp_path: Path
) -> None:
    # GIVEN the function's variables and boto3's standard ones in the environment, as a deployed model is reached
    environment = {
        **clean_environment(),
        **local_stack_environment(trained_artifacts, stack.s3_url, stack.endpoint_url),
    }
    command = [sys.executable, "-m", "churn_local.bulk.score", str(dataset.DATA_PATH), str(tmp_path / "env.csv")]
    # WHEN make score FROM_ENV=1 runs
    done = subprocess.run(
        [*command, "--from-environment"], cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, check=False
    )
    # THEN the output is byte for byte what the local stack mode writes
    assert done.returncode == 0, done.stderr
    assert score_file(stack, trained_artifacts, dataset.DATA_PATH, tmp_path / "local.csv").returncode == 0
    assert (tmp_path / "env.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()


def test_make_score_passes_the_files_and_where_the_model_is_and_asks_for_both_files() -> None:
    def make(*variables: str) -> subprocess.CompletedProcess:
        return subprocess.run(["make", "-n", "score", *variables], cwd=PROJECT_ROOT, capture_output=True, text=True)

    local = make("IN=in.csv", "OUT=out.csv", "S3_PORT=5101", "ENDPOINT_PORT=8101", "ARTIFACTS=art").stdout
    assert '-m churn_local.bulk.score "in.csv" "out.csv"' in local
    assert "--artifacts art --s3-url http://127.0.0.1:5101 --endpoint-url http://127.0.0.1:8101" in local
    assert "--from-environment" in make("IN=in.csv", "OUT=out.csv", "FROM_ENV=1").stdout
    missing = subprocess.run(["make", "score", "IN=in.csv"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert missing.returncode == 2 and "usage: make score" in missing.stdout


def test_the_deployed_batch_function_under_the_maps_batching_writes_what_make_score_writes(
    stack: Stack, trained_artifacts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the bulk function in this process, configured as deployed, on the stack's S3 and endpoint
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in local_stack_environment(trained_artifacts, stack.s3_url, stack.endpoint_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BULK_BUCKET", "churn-api-bulk-local")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="churn-api-bulk-local")
    sys.modules.pop("churn_api.bulk_handler", None)
    handler = importlib.import_module("churn_api.bulk_handler")
    # WHEN the data set's rows reach it as the state machine's Distributed Map sends them: the CSV reader's header
    # names and text values, the ItemSelector's index and row, the ItemBatcher's batches
    packaged = as_packaged(load_template(TEMPLATE), TEMPLATE.parent)
    csv_map = packaged["Resources"]["BulkScoringStateMachine"]["Properties"]["Definition"]
    batch_size = csv_map["States"]["ScoreCsv"]["ItemBatcher"]["MaxItemsPerBatch"]
    with dataset.DATA_PATH.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    written: list[dict[str, Any]] = []
    for start in range(0, len(rows), batch_size):
        items = [{"index": i, "row": rows[i]} for i in range(start, min(start + batch_size, len(rows)))]
        event = {"Items": items, "BatchInput": {"key": "input/churn.csv", "execution": "local-run"}}
        result = handler.lambda_handler(event, LambdaContext(timeout_s=25))
        body = s3.get_object(Bucket="churn-api-bulk-local", Key=result["output"])["Body"].read()
        written += [json.loads(line) for line in body.splitlines()]
    # THEN every row's answer and the row itself are what make score writes for the same file
    done = score_file(stack, trained_artifacts, dataset.DATA_PATH, tmp_path / "scored.csv")
    assert done.returncode == 0, done.stderr
    with (tmp_path / "scored.csv").open(encoding="utf-8", newline="") as file:
        expected = [bulk_item(row, place) for place, row in enumerate(csv.DictReader(file))]
    assert [{k: v for k, v in item.items() if k != "row"} for item in written] == expected
    assert [item["row"] for item in written] == rows
