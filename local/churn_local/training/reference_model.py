"""Score customers the way the data scientist would: the pickled transformation, then XGBoost itself.

The oracle the tests and the load test compare the API's scores with; it shares no code with the function.
"""

from __future__ import annotations

import pickle
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from churn_local.constants import MODEL_ARCHIVE, MODEL_MEMBER, TRANSFORMATION_FILE


class ReferenceModel:
    """Score payloads the way the data scientist would: the pickled transformation, then xgboost directly."""

    def __init__(self, artifacts: Path) -> None:
        with (artifacts / TRANSFORMATION_FILE).open("rb") as f:
            self.saved = pickle.load(f)  # noqa: S301 - the caller's own trained artifact
        with tarfile.open(artifacts / MODEL_ARCHIVE) as archive:
            member = archive.extractfile(MODEL_MEMBER)
            if member is None:
                raise ValueError(f"{MODEL_ARCHIVE}'s {MODEL_MEMBER} is not a file")
            raw = member.read()
        self.booster = xgb.Booster()
        self.booster.load_model(bytearray(raw))

    def features(self, payloads: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Return encoded obj_cols then scaled num_cols, as the reference function joins them."""
        obj_cols, num_cols = self.saved["obj_cols"], self.saved["num_cols"]
        categorical = pd.DataFrame(
            [[int(p[c]) if c == "Area Code" else str(p[c]) for c in obj_cols] for p in payloads], columns=obj_cols
        )
        numeric = pd.DataFrame([[float(p[c]) for c in num_cols] for p in payloads], columns=num_cols)
        encoded = self.saved["One_Hot"].transform(categorical)
        encoded = encoded.toarray() if hasattr(encoded, "toarray") else encoded
        return np.hstack([np.asarray(encoded, dtype=np.float64), self.saved["scaler"].transform(numeric)])

    def scores(self, payloads: Sequence[Mapping[str, Any]]) -> list[float]:
        """Return xgboost's own prediction for each payload."""
        return [float(s) for s in self.booster.predict(xgb.DMatrix(self.features(payloads)))]
