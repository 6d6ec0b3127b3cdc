"""Check a downloaded transformation before trusting it: its bytes, its scikit-learn version, its features' order.

Each check raises IntegrityError with a reason meant for the log, never for the client (it may name hashes and
versions, never the bucket or the key). An empty expectation means "not pinned": the check is skipped, so a stack
deployed without `make publish`'s values still serves, as before.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import pickle
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SHA256_HEX_LENGTH = 64


class IntegrityError(ValueError):
    """A downloaded artifact is not the one the deployment pinned, or was made for another library version."""


@dataclass(frozen=True)
class Expectations:
    """What the deployment pinned: the transformation's sha256 and the model's feature signature."""

    sha256: str = ""
    feature_signature: str = ""


def sha256_hex(data: bytes) -> str:
    """Return the lowercase hex sha256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


def feature_signature(names: Sequence[str]) -> str:
    """Return the sha256 of the ordered feature names (compact JSON): the model and its transformation share it."""
    text = json.dumps([str(n) for n in names], separators=(",", ":"), ensure_ascii=False)
    return sha256_hex(text.encode("utf-8"))


def check_sha256(data: bytes, expected: str) -> None:
    """Refuse bytes whose sha256 is not the pinned one (skipped when nothing is pinned)."""
    if not expected:
        return
    actual = sha256_hex(data)
    # Constant-time comparison costs nothing and rules out the question.
    if not hmac.compare_digest(actual, expected.strip().lower()):
        raise IntegrityError(f"sha256 mismatch: the object has {actual}, the deployment pinned {expected}")


def check_feature_signature(names: Sequence[str], expected: str) -> None:
    """Refuse a transformation whose ordered output features are not the ones the model was trained on."""
    if not expected:
        return
    actual = feature_signature(names)
    if actual != expected.strip().lower():
        raise IntegrityError(
            f"feature signature mismatch: the transformation gives {len(names)} features signed {actual}, "
            f"the model expects {expected}"
        )


def unpickle_same_sklearn(data: bytes) -> Any:
    """Unpickle, refusing any estimator pickled by another scikit-learn version than the one installed.

    scikit-learn records its version in each estimator's pickled state and, on a mismatch, only warns
    (InconsistentVersionWarning) and loads an estimator whose behaviour is undefined. Here the warning is an error.
    """
    # scikit-learn loads with the first pickle, not with this module.
    from sklearn.exceptions import InconsistentVersionWarning  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        try:
            # Only after check_sha256: the bytes are the ones the deployer published to their own bucket.
            return pickle.load(io.BytesIO(data))  # noqa: S301
        except InconsistentVersionWarning as warning:
            raise IntegrityError(
                f"{warning.estimator_name} was pickled with scikit-learn {warning.original_sklearn_version}, "
                f"this function runs {warning.current_sklearn_version}: retrain with the layer's version"
            ) from None
