"""Turn validated customers into the model's CSV rows with the data scientist's pickled transformation."""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from operator import itemgetter
from typing import Any

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from churn_api.budget import LOAD_RETRY_AFTER_S, Deadline, in_background
from churn_api.compiled import CompiledTransformation, NotCompilable, compile_transformation, plain, reference_csv
from churn_api.errors import ErrorDetail, TransformationUnavailable
from churn_api.integrity import Expectations, check_feature_signature, check_sha256, unpickle_same_sklearn
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
        self._category_sets = [self.categories[col] for col in self.obj_cols]
        attributes = {f.alias: name for name, f in Customer.model_fields.items()}
        # Read from a customer's __dict__, where pydantic keeps the validated field values: cheaper than model_dump
        # or attribute lookups on the hot path (docs/performance.md).
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

    def category_problems(self, customer: Customer, index: int | None = None) -> list[ErrorDetail]:
        """List the categorical values the encoder was never fitted on."""
        values = self._categorical(customer.__dict__)
        if all(map(frozenset.__contains__, self._category_sets, values)):
            return []  # the common case, in one pass of C
        problems = []
        for col, value in zip(self.obj_cols, values, strict=True):
            if value not in self.categories[col]:
                problem = f"unknown category {value!r}: not one the model was trained on"
                problems.append(ErrorDetail(field=col, problem=problem, index=index))
        return problems

    def unknown_categories[Index: (int, int | None)](
        self, customers: Sequence[Customer], indexes: Sequence[Index]
    ) -> dict[Index, list[ErrorDetail]]:
        """Map the index of each customer holding a category the encoder was never fitted on to its problems.

        The one answer to "can the model score these customers?" for /predict (one customer, index None: its problems
        name no index) and /predict/batch alike; pydantic's Customer has answered "are they customers?" before.
        """
        if len(customers) == 1:  # /predict's one customer: its own check, one pass in C
            problems = self.category_problems(customers[0], indexes[0])
            return {indexes[0]: problems} if problems else {}
        rows = [self._categorical(c.__dict__) for c in customers]
        if all(map(frozenset.issuperset, self._category_sets, zip(*rows, strict=True))):
            return {}  # the common case: one set test per column instead of one call per customer
        return {
            i: problems
            for i, customer in zip(indexes, customers, strict=True)
            if (problems := self.category_problems(customer, i))
        }

    def transform(self, customers: Sequence[Customer]) -> np.ndarray:
        """Return the feature matrix: encoded `obj_cols` then scaled `num_cols`, in the transformation's order."""
        # Column order comes from obj_cols/num_cols, never from the order of the client's JSON keys.
        categorical = [self._categorical(c.__dict__) for c in customers]
        numeric = [self._numeric(c.__dict__) for c in customers]
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
            categorical = [self._categorical(c.__dict__) for c in customers]
            return self.compiled.to_csv(categorical, [self._numeric(c.__dict__) for c in customers])
        return reference_csv(self.transform(customers))


def _row_getter(names: list[str]) -> Any:
    """Return a function giving a mapping's values at `names` as one tuple (itemgetter gives a bare value for one)."""
    if len(names) == 1:
        single = itemgetter(names[0])
        return lambda values: (single(values),)
    return itemgetter(*names)


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
    """Load the pickled transformation from S3 once per container, on first use, within each caller's deadline.

    One load runs at a time, on a worker thread, and every request waiting for it stops at its own deadline. A
    failed load is remembered for LOAD_RETRY_AFTER_S (growing with each failure in a row): until then, requests
    answer TRANSFORMATION_UNAVAILABLE at once, with Retry-After, instead of each waiting on S3 again.
    """

    def __init__(
        self,
        s3_client: Any,
        bucket: str,
        key: str,
        *,
        expected: Expectations | None = None,
        bucket_owner: str = "",
        clock: Callable[[], float] = time.monotonic,
        on_loaded: Callable[[], None] | None = None,
    ) -> None:
        self.s3 = s3_client
        self.bucket = bucket
        self.key = key
        # The pinned sha256 and feature signature; the account that must own the bucket (ExpectedBucketOwner).
        self.expected = expected or Expectations()
        self.bucket_owner = bucket_owner
        self.clock = clock
        self.on_loaded = on_loaded
        self._lock = threading.Lock()
        self._loaded: Transformation | None = None
        self._loading: Future[Transformation] | None = None
        self._failures = 0
        self._retry_at = 0.0

    @property
    def is_loaded(self) -> bool:
        """Tell whether this container already holds the transformation."""
        return self._loaded is not None

    def get(self, deadline: Deadline) -> Transformation:
        """Return the transformation, downloading it on the first call only; never wait past the deadline."""
        if self._loaded is not None:
            return self._loaded
        with self._lock:
            if self._loaded is not None:
                return self._loaded
            if self._loading is None:
                if (wait_s := self._retry_at - self.clock()) > 0:
                    raise TransformationUnavailable(
                        internal="the last load failed; not retried yet", retry_after=math.ceil(wait_s)
                    )
                self._loading = Future()
                threading.Thread(target=self._load, args=(self._loading,), daemon=True).start()
            loading = self._loading
        try:
            return loading.result(timeout=deadline.remaining())
        except FutureTimeout:
            raise TransformationUnavailable(internal="the load did not finish within the request's budget") from None

    def _load(self, loading: Future[Transformation]) -> None:
        try:
            transformation = self._download()
        except Exception as failure:
            # Whatever failed, the waiters get an answer and the failure is remembered: never a load left pending.
            exc = failure if isinstance(failure, TransformationUnavailable) else TransformationUnavailable()
            if exc is not failure:
                exc.internal, exc.__cause__ = f"the load failed: {type(failure).__name__}", failure
            with self._lock:
                backoff = LOAD_RETRY_AFTER_S[min(self._failures, len(LOAD_RETRY_AFTER_S) - 1)]
                self._failures += 1
                self._retry_at = self.clock() + backoff
                self._loading = None
            exc.retry_after = backoff
            loading.set_exception(exc)
            return
        with self._lock:
            self._loaded, self._failures, self._loading = transformation, 0, None
        if self.on_loaded:
            self.on_loaded()
        loading.set_result(transformation)

    def _download(self) -> Transformation:
        where = f"s3://{self.bucket}/{self.key}"
        owner = {"ExpectedBucketOwner": self.bucket_owner} if self.bucket_owner else {}
        # The GET waits on the network while importing scikit-learn (what unpickling needs) keeps the CPU busy:
        # side by side, a cold start pays the longer of the two instead of both.
        got = in_background(lambda: self.s3.get_object(Bucket=self.bucket, Key=self.key, **owner)["Body"].read())
        # The unpickling below names what is missing, if anything is.
        with contextlib.suppress(ImportError):
            import sklearn.preprocessing  # noqa: F401, PLC0415 - imported now for the unpickling below
        try:
            body: bytes = got.result()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            raise TransformationUnavailable(internal=f"cannot read {where} ({code})") from exc
        except BotoCoreError as exc:
            raise TransformationUnavailable(internal=f"cannot reach S3 for {where} ({type(exc).__name__})") from exc
        try:
            # Unpickle only the bytes the deployment pinned, made with this layer's scikit-learn (integrity.py).
            check_sha256(body, self.expected.sha256)
            saved = unpickle_same_sklearn(body)
            if not isinstance(saved, Mapping):
                raise ValueError(f"expected a dict, found {type(saved).__name__}")
            transformation = Transformation.from_mapping(saved)
            check_feature_signature(transformation.feature_names, self.expected.feature_signature)
            return transformation
        except Exception as exc:
            raise TransformationUnavailable(internal=f"{where} is not usable: {exc}") from exc
