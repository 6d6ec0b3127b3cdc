"""The transformation is loaded once, within each caller's deadline, and a failed load is remembered with backoff."""

from __future__ import annotations

import io
import pickle
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from churn_api.budget import LOAD_RETRY_AFTER_S, Deadline
from churn_api.errors import TransformationUnavailable
from churn_api.preprocessing import TransformationStore


class FakeS3:
    """An S3 stand-in whose GetObject answers from a script: bytes, an error code, or a wait."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.release = threading.Event()

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if answer == "hang":
            self.release.wait(5)
            raise ClientError({"Error": {"Code": "RequestTimeout"}}, "GetObject")
        if isinstance(answer, str):
            raise ClientError({"Error": {"Code": answer, "Message": "secret"}}, "GetObject")
        return {"Body": io.BytesIO(answer)}


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_the_first_caller_loads_and_every_later_one_gets_the_same_transformation(saved: dict[str, Any]) -> None:
    s3 = FakeS3(pickle.dumps(saved))
    store = TransformationStore(s3, "bucket", "key")
    first = store.get(Deadline.after(5))
    assert store.get(Deadline.after(5)) is first
    assert s3.calls == 1 and store.is_loaded


def test_a_failed_load_is_remembered_with_growing_backoff_then_retried(saved: dict[str, Any]) -> None:
    s3, clock = FakeS3("NoSuchKey", "NoSuchKey", pickle.dumps(saved)), Clock()
    store = TransformationStore(s3, "my-bucket", "models/t.sav", clock=clock)
    with pytest.raises(TransformationUnavailable) as first:
        store.get(Deadline.after(5))
    assert first.value.retry_after == LOAD_RETRY_AFTER_S[0]
    assert "s3://my-bucket/models/t.sav (NoSuchKey)" in first.value.internal
    assert "my-bucket" not in first.value.message
    for _ in range(5):
        with pytest.raises(TransformationUnavailable):
            store.get(Deadline.after(5))
    assert s3.calls == 1  # remembered: nobody waited on S3 again
    clock.now += LOAD_RETRY_AFTER_S[0]
    with pytest.raises(TransformationUnavailable) as second:
        store.get(Deadline.after(5))
    assert (s3.calls, second.value.retry_after) == (2, LOAD_RETRY_AFTER_S[1])
    clock.now += LOAD_RETRY_AFTER_S[1] - 0.5
    with pytest.raises(TransformationUnavailable) as waiting:
        store.get(Deadline.after(5))
    assert waiting.value.retry_after == 1
    clock.now += 0.5
    assert store.get(Deadline.after(5)).obj_cols == saved["obj_cols"]
    assert s3.calls == 3


def test_callers_stop_at_their_deadline_and_share_the_one_load_in_flight(saved: dict[str, Any]) -> None:
    s3 = FakeS3("hang")
    store = TransformationStore(s3, "bucket", "key")
    started = time.monotonic()
    for _ in range(3):
        with pytest.raises(TransformationUnavailable):
            store.get(Deadline.after(0.2))
    assert time.monotonic() - started < 1.0
    assert s3.calls == 1
    s3.release.set()


def test_a_corrupt_object_is_unavailable_without_quoting_the_unpickling_error_to_the_client() -> None:
    store = TransformationStore(FakeS3(b"not a pickle"), "bucket", "key")
    with pytest.raises(TransformationUnavailable) as caught:
        store.get(Deadline.after(5))
    assert "not usable" in caught.value.internal
    assert caught.value.body()["error"] == {
        "code": "TRANSFORMATION_UNAVAILABLE",
        "message": "the model's preprocessing cannot be loaded; retry later",
    }


def test_an_unforeseen_failure_of_the_load_is_answered_and_remembered_too() -> None:
    class BrokenS3:
        calls = 0

        def get_object(self, **_: Any) -> dict[str, Any]:
            BrokenS3.calls += 1
            return {}  # no Body: a KeyError inside the load

    store = TransformationStore(BrokenS3(), "bucket", "key")
    for _ in range(2):
        with pytest.raises(TransformationUnavailable):
            store.get(Deadline.after(5))
    assert BrokenS3.calls == 1
