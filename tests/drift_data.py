"""The data the drift checks are proved on: the held-out rows of data/churn.txt, and a copy of them that has drifted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from churn_local.training import dataset

# The drifted copy: a day's minutes half as long again, and half the customers moved to three states.
DAY_MINUTES_FACTOR = 1.5
CROWDED_STATES = ("CA", "TX", "NY")


def held_out(metadata: Mapping[str, Any]) -> pd.DataFrame:
    """Return the rows training held out (metadata.json's test_rows), as data/churn.txt has them."""
    return dataset.load().iloc[list(metadata["test_rows"])].reset_index(drop=True)


def shifted(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Return a copy with `Day Mins` times 1.5 and the `State` mix changed (half the rows in three states)."""
    copy = frame.copy()
    copy["Day Mins"] = (copy["Day Mins"] * DAY_MINUTES_FACTOR).round(6)
    rng = np.random.default_rng(seed)
    moved = rng.random(len(copy)) < 0.5
    states = copy["State"].to_numpy(dtype=object)
    states[moved] = rng.choice(list(CROWDED_STATES), int(moved.sum()))
    copy["State"] = states
    return copy


def as_csv(frame: pd.DataFrame) -> str:
    """Render rows as data/churn.txt does (its labels back as True./False.)."""
    out = frame.copy()
    out[dataset.LABEL] = out[dataset.LABEL].map({1: "True.", 0: "False."})
    text: str = out.to_csv(index=False)
    return text
