"""The local endpoint's CSV reader: numpy's fast path and the container's own path read every payload alike."""

from __future__ import annotations

import numpy as np
import pytest

from churn_local.services.xgboost_container import parse_csv


def containers_reading(body: bytes) -> np.ndarray:
    """Read a payload exactly as the built-in container's csv_to_dmatrix does."""
    lines = body.strip().decode("utf-8").split("\n")
    return np.array([["nan" if cell == "" else cell for cell in line.split(",")] for line in lines]).astype(np.float64)


@pytest.mark.parametrize(
    "body",
    [
        b"1,2.5,-3e-2\n4,5,6",
        b"0.1234567890123456789,1e308,nan\n",
        b"1,,2\n3,4,5",  # an empty cell is NaN
        b" 1.5 , 2\r\n3,4\r\n",
        b"7",
    ],
    ids=["numbers", "precision-and-nan", "empty-cell", "spaces-and-crlf", "one-cell"],
)
def test_a_payload_reads_as_the_container_reads_it(body: bytes) -> None:
    np.testing.assert_array_equal(parse_csv(body), containers_reading(body))


@pytest.mark.parametrize(
    "body",
    [b"1,2\n\n3,4", b"1,2\n3", b"1,a", b"1,2\n#3,4"],
    ids=["blank-line", "ragged", "not-a-number", "a-comment-is-not-skipped"],
)
def test_a_payload_the_container_refuses_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError):
        containers_reading(body)
    with pytest.raises(ValueError):
        parse_csv(body)
