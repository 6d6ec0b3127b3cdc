"""The SageMaker built-in XGBoost container's inference contract: load ``model.tar.gz``, answer ``/invocations``.

As the container does (aws/sagemaker-xgboost-container: src/sagemaker_xgboost_container/algorithm_mode/serve.py,
and aws/sagemaker-xgboost-container: src/sagemaker_xgboost_container/algorithm_mode/serve_utils.py): an empty body
is 204; a Content-Type other than text/csv 415; CSV that does not parse 415; a feature count other than the model's
400 (stricter than the container, which scores a short row of a ``save_model`` file as NaN: here it fails loudly);
else 200, one CSV line of float32 scores (or ``{"predictions": [{"score": ...}]}`` for ``Accept: application/json``; any
other Accept is 406). churn_local.services.sagemaker_endpoint puts SageMaker Runtime's InvokeEndpoint in front of it.
"""

from __future__ import annotations

import io
import json
import pickle
import tarfile
import threading
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import numpy as np
import xgboost as xgb

from churn_local.constants import MODEL_MEMBER

CSV = "text/csv"
JSON = "application/json"


@dataclass(frozen=True)
class ContainerResponse:
    """What the model container answers to one ``/invocations`` request."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def load_model_archive(path: Path) -> xgb.Booster:
    """Load ``xgboost-model`` from a model.tar.gz the way the container does: pickle first, then load_model."""
    with tarfile.open(path, mode="r:gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        if [m.name for m in members] != [MODEL_MEMBER]:
            # /opt/ml/model gets every file of the archive and the container averages them all as an ensemble.
            raise ValueError(f"{path} must hold exactly one file, {MODEL_MEMBER}; found {[m.name for m in members]}")
        extracted = tar.extractfile(members[0])
        assert extracted is not None  # noqa: S101 - narrows the type: members are regular files, checked above
        with extracted:
            raw = extracted.read()
    try:
        booster = pickle.loads(raw)  # noqa: S301 (the operator's own artifact, trusted like this code)
        if not isinstance(booster, xgb.Booster):
            raise TypeError(f"unpickled a {type(booster).__name__}, not a Booster")
    except Exception:
        booster = xgb.Booster()
        booster.load_model(bytearray(raw))
    booster.set_param("nthread", "1")
    return booster


class XGBoostContainer:
    """The built-in XGBoost container's ``/invocations`` behaviour around one loaded booster."""

    def __init__(self, booster: xgb.Booster) -> None:
        self.booster = booster
        self.n_features = booster.num_features()
        # The container predicts one request at a time per worker; one lock gives the threaded server the same.
        self._lock = threading.Lock()

    def invocations(self, body: bytes, content_type: str | None, accept: str | None) -> ContainerResponse:
        """Answer one ``POST /invocations`` with the container's status codes and body formats."""
        if not body:
            return ContainerResponse(HTTPStatus.NO_CONTENT)
        media = _media_type(content_type) or CSV
        if media not in ("csv", CSV):
            message = f"Content-type {media} not supported. Supported content-type is text/csv, text/libsvm"
            return ContainerResponse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, message.encode())
        accepted = _media_type(accept)
        accepted = CSV if accepted in ("", "*/*") else accepted
        if accepted not in (CSV, JSON):
            message = f"Accept type {accepted} is not supported. Please use supported accept types: {[CSV, JSON]}."
            return ContainerResponse(HTTPStatus.NOT_ACCEPTABLE, message.encode())
        try:
            rows = parse_csv(body)
        except Exception as exc:
            message = (
                f"Loading csv data failed with Exception, please ensure data is in csv format:\n {type(exc)}\n {exc}"
            )
            return ContainerResponse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, message.encode())
        if rows.shape[1] != self.n_features:
            message = (
                "Unable to evaluate payload provided: Feature size of csv inference data "
                f"{rows.shape[1]} is not consistent with feature size of trained model {self.n_features}."
            )
            return ContainerResponse(HTTPStatus.BAD_REQUEST, message.encode())
        # XGBoost reads features as float32 (a DMatrix casts them too); cast here, its float64 path is slower.
        features = rows.astype(np.float32)
        with self._lock:
            # inplace_predict skips building a DMatrix (most of the cost of a small request); its scores equal
            # predict(DMatrix(rows)) exactly: both read the features as float32 and treat NaN as missing.
            scores = np.asarray(self.booster.inplace_predict(features, validate_features=False)).tolist()
        if accepted == JSON:
            return ContainerResponse(
                HTTPStatus.OK, json.dumps({"predictions": [{"score": s} for s in scores]}).encode(), JSON
            )
        return ContainerResponse(HTTPStatus.OK, ",".join(map(str, scores)).encode(), "text/csv; charset=utf-8")


def parse_csv(body: bytes) -> np.ndarray:
    """Decode a ``text/csv`` payload as the container's ``encoder.csv_to_dmatrix`` does: one row per line.

    numpy's C reader takes the common case (every cell a number); what it refuses or reads differently (an empty
    cell, which the container reads as NaN; a blank line, which numpy skips and the container refuses) takes the
    container's own path, so the answers and errors stay the container's.
    """
    text = body.strip()
    try:
        rows = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.float64, comments=None, ndmin=2)
        if rows.shape[0] == text.count(b"\n") + 1:
            return rows
    except ValueError:
        pass
    cells = [["nan" if cell == "" else cell for cell in line.split(",")] for line in text.decode("utf-8").split("\n")]
    return np.array(cells).astype(np.float64)
