"""Turn validated customers into the model's CSV rows with the data scientist's pickled transformation."""

from __future__ import annotations

import copy
import io
import logging
import pickle
import threading
from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Any

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from churn_api.compiled import CompiledTransformation, NotCompilable, compile_transformation, plain, reference_csv
from churn_api.errors import FieldProblem, TransformationUnavailable
from churn_api.models import Customer

REQUIRED_KEYS = ("obj_cols", "num_cols", "One_Hot", "scaler")
logger = logging.getLogger(__name__)


class Transformation:
    """The reference preprocessing: one-hot `obj_cols`, scale `num_cols`, join them in that order."""

    def __init__(self, obj_cols: Sequence[str], num_cols: Sequence[str], encoder: Any, scaler: Any) -> None:
        self.obj_cols = [str(c) for c in obj_cols]
        self.num_cols = [str(c) for c in num_cols]
        self.encoder = _unnamed(encoder, self.obj_cols, "One_Hot")
        self.scaler = _unnamed(scaler, self.num_cols, "scaler")
        unknown = [c for c in self.obj_cols + self.num_cols if c not in Customer.feature_names()]
        if unknown:
            raise ValueError(f"transformation uses columns the API does not accept: {unknown}")
        self.categories = {
            col: frozenset(plain(v) for v in cats) for col, cats in zip(self.obj_cols, encoder.categories_, strict=True)
        }
        self.feature_names = [str(n) for n in encoder.get_feature_names_out(self.obj_cols)] + self.num_cols
        attributes = {f.alias: name for name, f in Customer.model_fields.items()}
        # attrgetter reads the validated fields straight off each customer (model_dump costs ~10 us a customer).
        self._categorical = _row_getter([attributes[c] for c in self.obj_cols])
        self._numeric = _row_getter([attributes[c] for c in self.num_cols])
        self.compiled: CompiledTransformation | None
        try:
            # Raises MismatchError (a ValueError) when the compiled form and scikit-learn disagree: not served.
            self.compiled = compile_transformation(self.encoder, self.scaler)
        except NotCompilable as exc:
            logger.warning("transforming with scikit-learn, not the compiled path: %s", exc)
            self.compiled = None

    @classmethod
    def from_mapping(cls, saved: Mapping[str, Any]) -> Transformation:
        """Build from the pickled dict, naming any key that is missing."""
        missing = [k for k in REQUIRED_KEYS if k not in saved]
        if missing:
            raise ValueError(f"transformation is missing keys {missing}")
        return cls(saved["obj_cols"], saved["num_cols"], saved["One_Hot"], saved["scaler"])

    @property
    def n_features(self) -> int:
        """Return how many values each CSV row carries."""
        return len(self.feature_names)

    def category_problems(self, customer: Customer, index: int | None = None) -> list[FieldProblem]:
        """List the categorical values the encoder was never fitted on."""
        values = customer.features()
        problems = []
        for col in self.obj_cols:
            if values[col] not in self.categories[col]:
                problems.append(
                    FieldProblem(col, f"unknown category {values[col]!r}: not one the model was trained on", index)
                )
        return problems

    def transform(self, customers: Sequence[Customer]) -> np.ndarray:
        """Return the feature matrix: encoded `obj_cols` then scaled `num_cols`, in the transformation's order."""
        # Column order comes from obj_cols/num_cols, never from the order of the client's JSON keys.
        categorical = [self._categorical(c) for c in customers]
        numeric = [self._numeric(c) for c in customers]
        if self.compiled is not None:
            return self.compiled.transform(categorical, numeric)
        encoded = self.encoder.transform(np.array(categorical, dtype=object))
        if hasattr(encoded, "toarray"):
            encoded = encoded.toarray()
        scaled = self.scaler.transform(np.array(numeric, dtype=np.float64))
        return np.hstack([np.asarray(encoded, dtype=np.float64), np.asarray(scaled, dtype=np.float64)])

    def to_csv(self, customers: Sequence[Customer]) -> str:
        """Render the customers as `text/csv` rows, one line each, with round-trip exact floats."""
        if self.compiled is not None:
            categorical = [self._categorical(c) for c in customers]
            return self.compiled.to_csv(categorical, [self._numeric(c) for c in customers])
        return reference_csv(self.transform(customers))


def _row_getter(names: list[str]) -> Any:
    """Return a function giving an object's attributes `names` as one tuple (attrgetter gives a bare value for one)."""
    if len(names) == 1:
        single = attrgetter(names[0])
        return lambda obj: (single(obj),)
    return attrgetter(*names)


def _unnamed(estimator: Any, columns: list[str], name: str) -> Any:
    """Return the estimator, without the column names it was fitted with once they are checked."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return estimator
    if [str(n) for n in names] != columns:
        raise ValueError(f"{name} was fitted on columns {list(names)}, not {columns}")
    # Fitted on a DataFrame, the estimator warns on every plain ndarray; the layer has no pandas, and the
    # check above proved that the columns we pass, ordered by name, are the ones it was fitted on.
    unnamed = copy.deepcopy(estimator)
    del unnamed.feature_names_in_
    return unnamed


class TransformationStore:
    """Load the pickled transformation from S3 once per container, on first use, thread-safely."""

    def __init__(self, s3_client: Any, bucket: str, key: str) -> None:
        self._s3 = s3_client
        self.bucket = bucket
        self.key = key
        self._lock = threading.Lock()
        self._loaded: Transformation | None = None

    @property
    def is_loaded(self) -> bool:
        """Tell whether this container already holds the transformation."""
        return self._loaded is not None

    def get(self) -> Transformation:
        """Return the transformation, downloading it on the first call only."""
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = self._download()
        return self._loaded

    def _download(self) -> Transformation:
        where = f"s3://{self.bucket}/{self.key}"
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            raise TransformationUnavailable(f"cannot read the transformation at {where} ({code})") from exc
        except BotoCoreError as exc:
            raise TransformationUnavailable(f"cannot reach S3 for the transformation at {where}") from exc
        try:
            # The bucket is the deployer's own, writable only by them: the same trust as the function's code.
            saved = pickle.load(io.BytesIO(body))  # noqa: S301
            if not isinstance(saved, Mapping):
                raise ValueError(f"expected a dict, found {type(saved).__name__}")
            return Transformation.from_mapping(saved)
        except Exception as exc:
            raise TransformationUnavailable(f"the transformation at {where} is not usable: {exc}") from exc
