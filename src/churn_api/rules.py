"""The API's rules, each written once: what a batch may hold, what a number may be, what a score is, who churns.

The function, the local stack, the training and the benchmarks import them from here; the prose that states them
(errors.py's `when`, the OpenAPI document, docs/api.md's tables, checked by tests) is written from these values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

# The most customers one POST /predict/batch may carry (413 above): see docs/api.md's "Maximum batch" for the
# Lambda payload arithmetic behind it.
MAX_BATCH_SIZE = 1000

# Numbers must stay far inside float32 (the model's input type) after scaling: the real data's largest value is
# 1,300, and a million leaves every plausible account room while keeping 1e40 out of the model.
NUMBER_LIMIT = 1_000_000


def is_probability(value: float) -> bool:
    """Tell whether a value is a probability: a number from 0 to 1 (NaN and the infinities are not)."""
    return 0.0 <= value <= 1.0


def are_probabilities(values: Sequence[float]) -> bool:
    """Tell whether every value is a probability, in three passes made in C instead of one in Python."""
    # min and max pass over a NaN that is not first; the sum is NaN if any value is.
    return not values or (math.isfinite(sum(values)) and is_probability(min(values)) and is_probability(max(values)))


class Scores[Decision](Protocol):
    """A score, or an array of scores (numpy compares element by element)."""

    def __gt__(self, threshold: float, /) -> Decision: ...


def churns[Decision](score: Scores[Decision], threshold: float) -> Decision:
    """Decide who churns: a score above the threshold (a bool for a float, an array of them for an array)."""
    return score > threshold
