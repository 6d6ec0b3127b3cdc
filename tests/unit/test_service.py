"""Batches are split into endpoint-sized chunks, sent concurrently, and answered in input order."""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from churn_api.errors import InvalidRequest, ModelError
from churn_api.models import Customer
from churn_api.preprocessing import Transformation
from churn_api.scoring import EndpointScorer
from churn_api.service import ChurnPredictor, chunk
from churn_local.dataset import NUM_COLS
from tests.support import reference_payload


@given(st.lists(st.integers(min_value=1, max_value=100), max_size=200), st.integers(1, 20), st.integers(101, 1000))
def test_chunks_cover_every_row_in_order_within_both_limits(sizes: list[int], max_rows: int, max_bytes: int) -> None:
    chunks = chunk(sizes, max_rows, max_bytes)
    assert [i for c in chunks for i in c] == list(range(len(sizes)))
    for c in chunks:
        assert 1 <= len(c) <= max_rows
        assert sum(sizes[i] + 1 for i in c) <= max_bytes


@given(st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=200), st.integers(1, 20))
def test_a_chunk_is_only_cut_when_the_next_row_would_break_a_limit(sizes: list[int], max_rows: int) -> None:
    max_bytes = 1_000
    chunks = chunk(sizes, max_rows, max_bytes)
    for current, following in zip(chunks, chunks[1:], strict=False):
        grown = [*current, following.start]
        assert len(grown) > max_rows or sum(sizes[i] + 1 for i in grown) > max_bytes


def test_a_row_larger_than_the_request_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="row 1 alone"):
        chunk([10, 2_000], max_rows=5, max_bytes=1_000)


class StoreOf:
    """A TransformationStore that already holds its transformation."""

    def __init__(self, transformation: Transformation) -> None:
        self.transformation = transformation

    def get(self) -> Transformation:
        return self.transformation


class CountingRuntime:
    """A sagemaker-runtime stand-in: one score per CSV row (from its first value), recording calls."""

    def __init__(self, delay: float = 0.05, fail_on_call: int | None = None) -> None:
        self.calls: list[list[str]] = []
        self.active = 0
        self.max_active = 0
        self.delay = delay
        self.fail_on_call = fail_on_call
        self._lock = threading.Lock()

    def invoke_endpoint(self, *, EndpointName: str, ContentType: str, Body: bytes) -> dict[str, Any]:  # noqa: N803
        rows = Body.decode().split("\n")
        with self._lock:
            self.calls.append(rows)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            number = len(self.calls)
        time.sleep(self.delay)  # hold the call open so that concurrent chunks overlap
        with self._lock:
            self.active -= 1
        if number == self.fail_on_call:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ModelError", "Message": "boom"}}, "InvokeEndpoint")
        return {"Body": io.BytesIO("\n".join(score_of(r) for r in rows).encode())}


def score_of(csv_row: str) -> str:
    """A deterministic score in [0, 1] that depends on the row's scaled Account Length."""
    account_length_scaled = float(csv_row.split(",")[-len(NUM_COLS)])
    return repr(min(1.0, max(0.0, 0.5 + account_length_scaled / 10)))


def customers(n: int) -> list[Customer]:
    return [Customer.model_validate({**reference_payload(), "Account Length": str(i + 1)}) for i in range(n)]


def predictor_for(transformation: Transformation, runtime: CountingRuntime, chunk_rows: int) -> ChurnPredictor:
    return ChurnPredictor(
        StoreOf(transformation),  # type: ignore[arg-type]
        EndpointScorer(runtime, "churn-xgboost"),
        0.39,
        chunk_rows=chunk_rows,
    )


def test_a_batch_is_sent_in_concurrent_chunks_and_answered_in_input_order(transformation: Transformation) -> None:
    runtime = CountingRuntime()
    batch = customers(10)
    outcomes = predictor_for(transformation, runtime, chunk_rows=3).predict_batch(batch)
    assert sorted(len(c) for c in runtime.calls) == [1, 3, 3, 3]
    assert runtime.max_active > 1
    expected = [float(score_of(line)) for line in transformation.to_csv(batch).split("\n")]
    assert [o.index for o in outcomes] == list(range(10))
    assert [o.prediction.score for o in outcomes if o.prediction] == expected
    assert expected == sorted(expected)  # Account Length grows with the index, and so does this score


def test_bad_records_are_reported_by_index_and_the_good_ones_still_scored(transformation: Transformation) -> None:
    runtime = CountingRuntime(delay=0)
    good = customers(3)
    unknown_state = Customer.model_validate({**reference_payload(), "State": "XX"})
    invalid = InvalidRequest("the record is not a valid customer")
    outcomes = predictor_for(transformation, runtime, chunk_rows=250).predict_batch(
        [good[0], invalid, unknown_state, good[1], good[2]]
    )
    assert [o.prediction is not None for o in outcomes] == [True, False, False, True, True]
    assert outcomes[1].error is invalid
    assert outcomes[2].error is not None
    assert [(d.field, d.index) for d in outcomes[2].error.details] == [("State", 2)]
    assert len(runtime.calls) == 1
    assert runtime.calls[0] == transformation.to_csv([good[0], good[1], good[2]]).split("\n")


def test_a_failing_chunk_fails_the_whole_batch_with_its_error(transformation: Transformation) -> None:
    runtime = CountingRuntime(delay=0, fail_on_call=2)
    with pytest.raises(ModelError):
        predictor_for(transformation, runtime, chunk_rows=2).predict_batch(customers(6))


def test_the_endpoint_latency_of_every_chunk_is_reported(transformation: Transformation) -> None:
    seen: list[float] = []
    predictor = predictor_for(transformation, CountingRuntime(delay=0.01), chunk_rows=2)
    predictor.on_endpoint_latency = seen.append
    predictor.predict(customers(5))
    assert len(seen) == 3
    assert all(ms >= 10 for ms in seen)
