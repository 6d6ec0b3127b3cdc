"""Fit the preprocessing in exactly the reference format: a pickled dict of obj_cols, num_cols, One_Hot, scaler."""

from __future__ import annotations

import pickle
from typing import Any

import pandas as pd
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churn_local.training.dataset import NUM_COLS, OBJ_COLS


def fit_transformation(frame: pd.DataFrame) -> dict[str, Any]:
    """Fit the one-hot encoder and the scaler on a (training) frame, the way the data scientist did."""
    # The default sparse output, as the reference's data scientist fitted it: the reference function calls
    # .toarray() on the encoder's output, which a dense encoder's ndarray does not have.
    encoder = OneHotEncoder(handle_unknown="error")
    encoder.fit(frame[OBJ_COLS])
    scaler = StandardScaler()
    scaler.fit(frame[NUM_COLS].astype("float64"))
    return {"obj_cols": list(OBJ_COLS), "num_cols": list(NUM_COLS), "One_Hot": encoder, "scaler": scaler}


def dumps(transformation: dict[str, Any]) -> bytes:
    """Pickle the transformation dict as the reference saves it (`transformation.sav`)."""
    return pickle.dumps(transformation, protocol=pickle.HIGHEST_PROTOCOL)
