"""Read the bundled churn data set (CRLF, `Churn?` as `True.`/`False.`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from churn_local.constants import PROJECT_ROOT

DATA_PATH = PROJECT_ROOT / "data" / "churn.txt"
DATA_SHA256 = "182e4be2ff5716699104001a2c1a9e93a5ba9143806f626faf75dc819ccf7dde"

LABEL = "Churn?"
IDENTIFIER = "Phone"
OBJ_COLS = ["State", "Area Code", "Int'l Plan", "VMail Plan"]
NUM_COLS = [
    "Account Length",
    "VMail Message",
    "Day Mins",
    "Day Calls",
    "Day Charge",
    "Eve Mins",
    "Eve Calls",
    "Eve Charge",
    "Night Mins",
    "Night Calls",
    "Night Charge",
    "Intl Mins",
    "Intl Calls",
    "Intl Charge",
    "CustServ Calls",
]


def load(path: Path = DATA_PATH) -> pd.DataFrame:
    """Load the data set with `Area Code` as int categories and `Churn?` as 0/1."""
    frame = pd.read_csv(path, dtype={"Area Code": "int64", "Phone": "str", "State": "str"})
    labels = frame[LABEL].map({"True.": 1, "False.": 0})
    if labels.isna().any():
        raise ValueError(f"unexpected {LABEL} values: {sorted(frame.loc[labels.isna(), LABEL].unique())}")
    frame[LABEL] = labels.astype("int64")
    return frame


def as_payload(row: pd.Series) -> dict[str, str]:
    """Render one data row as the API's JSON payload: every value a string, like the reference payload."""
    return {col: str(row[col]) for col in row.index if col != LABEL}
