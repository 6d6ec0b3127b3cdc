"""The hot path's shortcuts give exactly what the plain way gives: validation, float text, worker threads."""

from __future__ import annotations

import math
import threading
import time
from typing import Annotated, Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError, ValidatorFunctionWrapHandler, WrapValidator

from churn_api import budget, compiled, models
from churn_api.budget import Deadline, within
from churn_api.compiled import float_rows
from churn_api.models import BatchRequest, Customer, PlainestFirst, customers_from
from churn_local.lambda_runtime.event_files import reference_payload

FIELDS = list(reference_payload())
# Values around every rule of the fields: types, signs, spaces, digits that are not ASCII, limits, rounding.
ODD_VALUES = [
    True, False, None, [], {}, 0, -0, 4, 4.0, 4.5, -0.0, -1, 999_999, 1_000_000, 2**70, 1e40, math.nan, math.inf,
    "4", " 4", "4 ", "+4", "-4", "04", "0000000", "4.0", "1_000", "1e3", ".5", "5.", ".", "", " ", "nan", "inf",
    "٣", "４", "4\n", "4\x1f", "999999.99999999999", "999999.9999999999", "1000000", "SC", " SC", "SC\x1f", "\x1cSC",
    "S C", "é", "a" * 64, "a" * 65, "~", "\x7f", "XX", "10.018992664834252",
]  # fmt: skip
scalars = st.one_of(
    st.sampled_from(ODD_VALUES),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(),
    st.text(alphabet="0123456789 .+-e_\t\n\x1f\u00a0٣"),
    st.from_regex(r"\A\s*\+?\d{0,8}(\.\d*)?\s*\Z"),
)
records = st.dictionaries(st.sampled_from(FIELDS), scalars, max_size=4).map(
    lambda changes: {**reference_payload(), **changes}
)


def outcome(result: Customer | ValidationError) -> tuple[Any, ...]:
    """What a caller can observe of a validation: the customer's state, or the errors (ValueErrors by their text)."""
    if isinstance(result, ValidationError):
        errors = [
            {**e, "ctx": {k: (type(v).__name__, str(v)) for k, v in e.get("ctx", {}).items()}}
            for e in result.errors(include_url=False)
        ]
        return "invalid", repr(errors), str(result)
    state = (result.__dict__, result.__pydantic_fields_set__, result.__pydantic_extra__, result.__pydantic_private__)
    return "valid", type(result), repr(state), {k: type(v) for k, v in result.__dict__.items()}, hash(result)


def validated_one_by_one(batch: list[Any]) -> list[tuple[Any, ...]]:
    outcomes = []
    for record in batch:
        try:
            outcomes.append(outcome(Customer.model_validate(record)))
        except ValidationError as exc:
            outcomes.append(outcome(exc))
    return outcomes


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records, min_size=1, max_size=6))
def test_customers_from_gives_what_model_validate_gives_record_by_record(batch: list[dict[str, Any]]) -> None:
    """GIVEN records with odd values WHEN validated as a batch THEN each outcome is the model's own, errors included."""
    assert [outcome(r) for r in customers_from(batch)] == validated_one_by_one(batch)


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_every_odd_value_of_every_field_is_validated_as_the_model_does(field: str, value: Any) -> None:
    batch = [{**reference_payload(), field: value}, reference_payload()]
    assert [outcome(r) for r in customers_from(batch)] == validated_one_by_one(batch)


def test_records_that_are_not_objects_or_lack_fields_get_the_models_errors() -> None:
    missing = {k: v for k, v in reference_payload().items() if k != "Day Mins"}
    batch: list[Any] = [None, "customer", [reference_payload()], {}, missing, reference_payload()]
    assert [outcome(r) for r in customers_from(batch)] == validated_one_by_one(batch)


ONE_CUSTOMER = TypeAdapter(Annotated[Customer, PlainestFirst])
THE_MODEL = TypeAdapter(Customer)


def validated_one_at_a_time(adapter: TypeAdapter[Customer], batch: list[Any]) -> list[tuple[Any, ...]]:
    """Validate each record as Powertools validates /predict's body (with from_attributes)."""
    outcomes = []
    for record in batch:
        try:
            outcomes.append(outcome(adapter.validate_python(record, from_attributes=True)))
        except ValidationError as exc:
            outcomes.append(outcome(exc)[:2])  # not the text: its title names the adapter; Powertools reads errors()
    return outcomes


def validated_as_one_customer(batch: list[Any]) -> list[tuple[Any, ...]]:
    return validated_one_at_a_time(ONE_CUSTOMER, batch)


def validated_by_the_model(batch: list[Any]) -> list[tuple[Any, ...]]:
    return validated_one_at_a_time(THE_MODEL, batch)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records, min_size=1, max_size=3))
def test_one_customer_plainest_first_gives_what_model_validate_gives(batch: list[dict[str, Any]]) -> None:
    """GIVEN records with odd values WHEN validated as /predict's body THEN each outcome is the model's own."""
    assert validated_as_one_customer(batch) == validated_by_the_model(batch)


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_every_odd_value_of_every_field_is_validated_as_the_model_does_for_one_customer(field: str, value: Any) -> None:
    batch = [{**reference_payload(), field: value}]
    assert validated_as_one_customer(batch) == validated_by_the_model(batch)


def test_one_customer_that_is_not_an_object_or_lacks_fields_gets_the_models_errors() -> None:
    missing = {k: v for k, v in reference_payload().items() if k != "Day Mins"}
    batch: list[Any] = [None, "customer", [reference_payload()], {}, missing, reference_payload(), 4]
    assert validated_as_one_customer(batch) == validated_by_the_model(batch)


def test_one_plainly_spelled_customer_takes_the_fast_path() -> None:
    """GIVEN the reference payload (strings) and JSON numbers THEN /predict's validation never needs the model's."""
    slow: list[Any] = []

    def spy(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return models._plainest_first(value, lambda v: slow.append(v) or handler(v))

    adapter = TypeAdapter(Annotated[Customer, WrapValidator(spy)])
    as_numbers = {**reference_payload(), "Day Mins": 10.5, "Day Calls": 4, "Area Code": 415}
    for record in (reference_payload(), as_numbers):
        assert adapter.validate_python(record) == Customer.model_validate(record)
    assert slow == []
    with pytest.raises(ValidationError):
        adapter.validate_python({**reference_payload(), "Day Calls": True})
    assert len(slow) == 1


def test_the_plainest_spellings_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN the reference payload (strings) and the same values as JSON numbers THEN neither needs the model's own."""
    as_numbers = {**reference_payload(), "Day Mins": 10.5, "Day Calls": 4, "Area Code": 415}
    slow: list[Any] = []
    monkeypatch.setattr(Customer, "model_validate", classmethod(lambda cls, obj: slow.append(obj)))
    customers_from([reference_payload(), as_numbers])
    assert slow == []


def test_a_batch_request_is_shown_without_its_records() -> None:
    """Powertools logs the route's arguments (at DEBUG): a batch's repr must not carry Phone or any value."""
    batch = BatchRequest(customers=[reference_payload()] * 3)
    assert repr(batch) == "BatchRequest(customers=<3 records>)"
    assert reference_payload()["Phone"] not in f"{ {'batch': batch} }"


def test_this_pydantic_core_writes_floats_as_repr_does() -> None:
    """The fast float writer is on: if a pydantic-core upgrade changed its text, float_rows would fall back to repr."""
    assert compiled.FAST_FLOATS


finite = st.floats(allow_nan=False, allow_infinity=False)
edges = st.sampled_from([1e-4, 1e-5, 9.999999999999999e-05, 1e16, 1e15, 9999999999999998.0, -0.0])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.one_of(finite, st.floats(), edges), min_size=3, max_size=3), min_size=1, max_size=8))
def test_float_rows_are_the_repr_of_every_value(rows: list[list[float]]) -> None:
    matrix = np.array(rows, dtype=np.float64)
    assert float_rows(matrix) == [",".join(repr(v) for v in row) for row in rows]


def test_float_rows_agree_with_repr_on_a_million_doubles_of_every_magnitude() -> None:
    rng = np.random.default_rng(10)
    magnitudes = 10 ** rng.uniform(-8, 20, 1_000_000) * rng.choice([-1.0, 1.0], 1_000_000)
    bits = rng.integers(0, 2**64, 200_000, dtype=np.uint64).view(np.float64)
    for values in (magnitudes, bits[np.isfinite(bits)]):
        matrix = values[: len(values) // 10 * 10].reshape(-1, 10)
        assert float_rows(matrix) == [",".join(map(repr, row)) for row in matrix.tolist()]


def test_float_rows_of_rows_without_columns_are_empty() -> None:
    assert float_rows(np.zeros((3, 0))) == ["", "", ""]


def test_calls_run_on_threads_kept_between_requests_and_at_most_parallel_at_once() -> None:
    active, most, threads = [0], [0], set()
    lock = threading.Lock()

    def call() -> int:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
            threads.add(threading.get_ident())
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        return 1

    assert within(Deadline.after(5), [call] * 6, TimeoutError, parallel=2) == [1] * 6
    # The container's threads after a request: earlier tests in this process (bulk scoring runs chunks side by side)
    # may have left more idle ones than this request needed, and any idle one may take a call.
    kept = {thread.ident for thread in budget._workers._threads}
    threads.clear()
    assert within(Deadline.after(5), [call] * 6, TimeoutError, parallel=2) == [1] * 6
    assert most[0] == 2
    assert threads <= kept  # the second request found threads kept from before: it started none


def test_after_a_failure_no_further_call_starts() -> None:
    """GIVEN four calls, one at a time, each failing WHEN the first one fails THEN no other one starts."""
    started: list[int] = []

    def failing(i: int) -> Any:
        def call() -> int:
            started.append(i)
            time.sleep(0.02)
            raise ValueError(f"chunk {i} failed")

        return call

    with pytest.raises(ValueError, match="failed"):
        within(Deadline.after(5), [failing(i) for i in range(4)], TimeoutError, parallel=1)
    time.sleep(0.2)
    assert len(started) == 1
