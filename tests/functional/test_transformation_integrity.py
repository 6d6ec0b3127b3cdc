"""The store refuses, before serving anything, a transformation that is tampered, version-skewed or mismatched."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sklearn.base

from churn_api.budget import Deadline
from churn_api.errors import TransformationUnavailable
from churn_api.integrity import Expectations, IntegrityError, feature_signature, sha256_hex
from churn_api.preprocessing import Transformation, TransformationStore
from churn_local.lambda_runtime.context import LambdaContext
from churn_local.lambda_runtime.event_files import load_event
from churn_local.training.transformation import dumps, fit_transformation
from tests.functional.conftest import BUCKET, KEY, fresh_app

OWNER = "123456789012"


def store(s3: Any, data: bytes, **kwargs: Any) -> TransformationStore:
    """Put the bytes in moto's S3 and return a store that reads them with a real boto3 client."""
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=data)
    return TransformationStore(s3, BUCKET, KEY, **kwargs)


def pins(data: bytes, names: list[str]) -> Expectations:
    return Expectations(sha256=sha256_hex(data), feature_signature=feature_signature(names))


def refusal(target: TransformationStore) -> IntegrityError:
    """Return the integrity reason a store gave for refusing its transformation."""
    with pytest.raises(TransformationUnavailable) as raised:
        target.get(Deadline.after(10))
    assert raised.value.code == "TRANSFORMATION_UNAVAILABLE"
    assert raised.value.status == 500
    assert isinstance(raised.value.__cause__, IntegrityError)
    assert not target.is_loaded
    return raised.value.__cause__


def test_the_published_transformation_with_its_pins_loads(
    s3_bucket: Any, fitted_transformation: dict[str, Any]
) -> None:
    data = dumps(fitted_transformation)
    names = Transformation.from_mapping(fitted_transformation).feature_names
    loaded = store(s3_bucket, data, expected=pins(data, names), bucket_owner=OWNER).get(Deadline.after(10))
    assert loaded.feature_names == names


def test_a_tampered_transformation_is_refused_before_it_is_unpickled(
    s3_bucket: Any, fitted_transformation: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = dumps(fitted_transformation)
    names = Transformation.from_mapping(fitted_transformation).feature_names
    unpickled: list[bytes] = []
    monkeypatch.setattr("churn_api.preprocessing.unpickle_same_sklearn", unpickled.append)
    tampered = data.replace(b"scaler", b"sCaler")
    assert tampered != data
    reason = refusal(store(s3_bucket, tampered, expected=pins(data, names)))
    assert "sha256 mismatch" in str(reason)
    assert unpickled == []


def test_a_transformation_pickled_by_another_scikit_learn_is_refused(
    s3_bucket: Any, fitted_transformation: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(sklearn.base, "__version__", "1.6.1")
        skewed = dumps(fitted_transformation)
    names = Transformation.from_mapping(fitted_transformation).feature_names
    # Pinned by hash, so only the version check stands in the way.
    reason = refusal(store(s3_bucket, skewed, expected=pins(skewed, names)))
    assert "scikit-learn 1.6.1" in str(reason)


def test_a_transformation_refit_with_other_categories_is_refused_by_the_models_signature(
    s3_bucket: Any, fitted_transformation: dict[str, Any], churn_frame: Any
) -> None:

    model_names = Transformation.from_mapping(fitted_transformation).feature_names
    # A refit on the data without one state: every column after it shifts by one.
    refit = fit_transformation(churn_frame[churn_frame["State"] != "AK"])
    data = dumps(refit)
    reason = refusal(store(s3_bucket, data, expected=pins(data, model_names)))
    assert "feature signature mismatch" in str(reason)


def test_get_object_names_the_account_that_must_own_the_bucket(
    s3_bucket: Any, fitted_transformation: dict[str, Any]
) -> None:
    sent: list[str | None] = []
    s3_bucket.meta.events.register(
        "before-send.s3.GetObject", lambda request, **_: sent.append(request.headers.get("x-amz-expected-bucket-owner"))
    )
    store(s3_bucket, dumps(fitted_transformation), bucket_owner=OWNER).get(Deadline.after(10))
    store(s3_bucket, dumps(fitted_transformation)).get(Deadline.after(10))
    assert [s.decode() if isinstance(s, bytes) else s for s in sent] == [OWNER, None]


def test_through_the_handler_a_version_skewed_transformation_answers_500_transformation_unavailable(
    s3_bucket: Any, fitted_transformation: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(sklearn.base, "__version__", "1.6.1")
        s3_bucket.put_object(Bucket=BUCKET, Key=KEY, Body=dumps(fitted_transformation))
    app = fresh_app()
    response = app.lambda_handler(load_event("api-predict"), LambdaContext())
    assert response["statusCode"] == 500
    assert json.loads(response["body"])["error"]["code"] == "TRANSFORMATION_UNAVAILABLE"
