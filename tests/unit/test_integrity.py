"""The checks a downloaded transformation must pass: pinned bytes, this scikit-learn's pickles, the model's features."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
import sklearn.base

from churn_api.integrity import (
    IntegrityError,
    check_feature_signature,
    check_sha256,
    feature_signature,
    sha256_hex,
    unpickle_same_sklearn,
)
from churn_api.preprocessing import Transformation
from churn_local.training.transformation import dumps


def pickled_by_sklearn(version: str, saved: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Pickle the transformation as scikit-learn `version` would: it writes its version into each estimator."""
    with monkeypatch.context() as patch:
        patch.setattr(sklearn.base, "__version__", version)
        return dumps(saved)


def test_the_pinned_sha256_accepts_the_very_bytes_in_either_case() -> None:
    data = b"transformation bytes"
    check_sha256(data, sha256_hex(data))
    check_sha256(data, sha256_hex(data).upper())


def test_one_changed_byte_is_refused_naming_both_hashes() -> None:
    data = bytearray(b"transformation bytes")
    pinned = sha256_hex(bytes(data))
    data[0] ^= 1
    with pytest.raises(IntegrityError, match="sha256 mismatch") as raised:
        check_sha256(bytes(data), pinned)
    assert pinned in str(raised.value) and sha256_hex(bytes(data)) in str(raised.value)


def test_nothing_pinned_skips_the_hash_and_the_signature() -> None:
    check_sha256(b"anything", "")
    check_feature_signature(["a", "b"], "")


def test_the_feature_signature_depends_on_order_and_on_every_name() -> None:
    names = ["State_AK", "State_AL", "Account Length"]
    assert feature_signature(names) == feature_signature(list(names))
    assert feature_signature(names) != feature_signature(list(reversed(names)))
    assert feature_signature(names) != feature_signature(names[:-1])
    # Joining without a separator would make these two equal.
    assert feature_signature(["ab", "c"]) != feature_signature(["a", "bc"])


def test_a_transformation_with_the_models_feature_order_passes(transformation: Transformation) -> None:
    check_feature_signature(transformation.feature_names, feature_signature(transformation.feature_names))


def test_a_transformation_with_one_feature_more_or_another_order_is_refused(transformation: Transformation) -> None:
    names = transformation.feature_names
    for model_names in (names[:-1], names[1:] + names[:1]):
        with pytest.raises(IntegrityError, match=f"gives {len(names)} features"):
            check_feature_signature(names, feature_signature(model_names))


def test_a_pickle_from_this_scikit_learn_loads(saved: dict[str, Any]) -> None:
    loaded = unpickle_same_sklearn(dumps(saved))
    assert loaded["obj_cols"] == saved["obj_cols"]
    assert (loaded["scaler"].mean_ == saved["scaler"].mean_).all()


def test_a_pickle_from_another_scikit_learn_is_refused_not_just_warned_about(
    saved: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    skewed = pickled_by_sklearn("1.5.2", saved, monkeypatch)
    # Plain pickle loads it with only a warning: the behaviour this check exists to stop.
    with pytest.warns(sklearn.exceptions.InconsistentVersionWarning):
        pickle.loads(skewed)  # noqa: S301
    with pytest.raises(
        IntegrityError, match=rf"pickled with scikit-learn 1\.5\.2, this function runs {sklearn.__version__}"
    ):
        unpickle_same_sklearn(skewed)


def test_refusing_a_skewed_pickle_leaves_warnings_as_they_were(
    saved: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(IntegrityError):
        unpickle_same_sklearn(pickled_by_sklearn("1.5.2", saved, monkeypatch))
    with pytest.warns(sklearn.exceptions.InconsistentVersionWarning):
        pickle.loads(pickled_by_sklearn("1.5.2", saved, monkeypatch))  # noqa: S301
