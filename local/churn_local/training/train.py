"""Train the churn model on the bundled data and package it for the SageMaker built-in XGBoost container.

Usage: ``python -m churn_local.training.train [--data data/churn.txt] [--out artifacts] [--seed 42] [--threshold T]
[--test-size 0.25] [--fn-cost 500] [--fp-cost 100] [--tp-cost 100]``

Writes to the output directory:

- ``transformation.sav``: the reference-format pickled dict (``obj_cols``, ``num_cols``, ``One_Hot``, ``scaler``),
  fitted on the training split only;
- ``model.tar.gz``: one member, ``xgboost-model``, in XGBoost's UBJSON model format;
- ``metadata.json``: versions, target container, features (ordered names and their signature, see
  ``churn_api.integrity.feature_signature``), split, held-out rows, metrics, sha256 of everything;
- ``report.png``: ROC curve, score distributions per class and the cost curve, thresholds marked.

Which container the model is for, and why the file is UBJSON
-------------------------------------------------------------
Target: the SageMaker built-in XGBoost algorithm image ``sagemaker-xgboost:3.2-0-cpu-py3`` (XGBoost 3.2.0), the
newest line AWS publishes (aws/deep-learning-containers: .github/config/image/xgboost/sagemaker.yml:
``framework_version: "3.2.0"``, ``prod_image: "sagemaker-xgboost:3.2-0-cpu-py3"``; promoted to production in
aws/deep-learning-containers PR #6323). The 3.0 line (``sagemaker-xgboost:3.0-5-cpu-py3``, XGBoost 3.0.5,
aws/deep-learning-containers: .github/config/image/xgboost/sagemaker-3.0.yml) is still published and scores this
file identically (see ``base_score`` below); 1.7-1 and older are not targeted (their XGBoost predates 3.x).

How the container loads the model (aws/sagemaker-xgboost-container:
src/sagemaker_xgboost_container/algorithm_mode/serve_utils.py, ``get_loaded_booster``): for every file in
``/opt/ml/model`` it tries ``pickle.load`` and falls back to ``xgb.Booster().load_model(path)``; several files
are averaged as an ensemble, so the archive holds exactly one member. The 3.2.0 image dropped the pickle path
(aws/deep-learning-containers PR #6174: the 3.0.5 image keeps "pickle model format that were dropped in
3.2.0"; its aws/deep-learning-containers: test/xgboost/container/generate_models.py writes every test model with
``Booster.save_model``).
A pickled Booster is also tied to the XGBoost version that wrote it, whereas ``save_model``'s JSON/UBJSON is the
portable format (XGBoost "Introduction to Model IO"). So the member is ``Booster.save_raw("ubj")``: UBJSON is
XGBoost's default since 2.1, keeps floats exact, and fails ``pickle.load`` at the first byte (``{``), so both
container lines take the ``load_model`` path.

``base_score`` is pinned to 0.5. XGBoost 3.1 and later write the intercept as a vector (``"[4.9973333E-1]"``);
3.0.5 does not read that form and silently uses its default 0.5 instead, which shifted every score of an
unpinned model by up to 2.7e-4 there. With the intercept at that same default, the file scores identically on
both container lines.

Version pin: the project venv trains with the installed XGBoost (3.4.1 when this was written), not 3.2.0.
Checked by hand (the archive's ``xgboost-model`` loaded exactly as the container does, in throwaway venvs with
xgboost-cpu 3.2.0 and 3.0.5): all 1,250 held-out scores are bit-identical to 3.4.1's. XGBoost only promises
that newer releases read older models, so ``metadata.json`` records both versions and
``xgboost_matches_container``; pinning ``xgboost-cpu==3.2.0`` makes the match exact by construction.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import platform
import sys
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import xgboost as xgb
from sklearn.metrics import accuracy_score, confusion_matrix, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split

from churn_api.integrity import feature_signature
from churn_api.models import Customer
from churn_api.preprocessing import Transformation
from churn_api.rules import churns, is_probability
from churn_local.constants import (
    METADATA_FILE,
    MODEL_ARCHIVE,
    MODEL_MEMBER,
    TRANSFORMATION_FILE,
    XGBOOST_IMAGE_VERSION,
)
from churn_local.template.expansion import default_threshold
from churn_local.training import dataset, report
from churn_local.training.transformation import dumps, fit_transformation

REPORT_FILE = "report.png"

TARGET_CONTAINER = {
    "image": f"sagemaker-xgboost:{XGBOOST_IMAGE_VERSION}-cpu-py3",
    "framework_version": XGBOOST_IMAGE_VERSION,
    "xgboost": "3.2.0",
    "model_format": "ubj",
    "also_scores_identically_in": ["sagemaker-xgboost:3.0-5-cpu-py3 (xgboost 3.0.5)"],
}

# The SageMaker customer-churn example's hyperparameters; one thread keeps histogram building deterministic,
# and base_score at XGBoost's default keeps the model portable to the 3.0-5 container (module docstring).
HYPERPARAMETERS: dict[str, Any] = {
    "objective": "binary:logistic",
    "eval_metric": "auc",
    "tree_method": "hist",
    "max_depth": 5,
    "eta": 0.2,
    "gamma": 4,
    "min_child_weight": 6,
    "subsample": 0.8,
    "base_score": 0.5,
    "nthread": 1,
    "verbosity": 1,
}
NUM_ROUND = 100
THRESHOLD_GRID = np.round(np.arange(0.0, 1.0, 0.01), 2)


@dataclass(frozen=True)
class Costs:
    """What each outcome costs: a missed churner is a lost customer, every flagged customer gets an offer."""

    fn: float = 500.0
    fp: float = 100.0
    tp: float = 100.0
    tn: float = 0.0

    def of(self, tn: int, fp: int, fn: int, tp: int) -> float:
        """Return the total cost of a confusion matrix."""
        return self.tn * tn + self.fp * fp + self.fn * fn + self.tp * tp


def feature_matrix(transformation: Transformation, frame: pd.DataFrame) -> np.ndarray:
    """Build features exactly as the Lambda does: each row as the API payload, validated, then transformed."""
    customers = [Customer.model_validate(dataset.as_payload(row)) for _, row in frame.iterrows()]
    unknown = [p for i, c in enumerate(customers) for p in transformation.category_problems(c, i)]
    if unknown:
        raise ValueError(f"{len(unknown)} values were not seen in the training split, e.g. {unknown[0]}")
    return np.asarray(transformation.transform(customers), dtype=np.float64)


def counts(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, int]:
    """Return the confusion matrix at a threshold; a customer churns when score > threshold, as the API decides."""
    tn, fp, fn, tp = confusion_matrix(y_true, churns(scores, threshold), labels=[0, 1]).ravel()
    return {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}


def evaluate(y_true: np.ndarray, scores: np.ndarray, threshold: float, costs: Costs) -> dict[str, Any]:
    """Score the held-out predictions: ranking, decisions at the threshold, the cost curve, baselines."""
    predicted = churns(scores, threshold)
    matrix = counts(y_true, scores, threshold)
    curve = [costs.of(**counts(y_true, scores, float(t))) for t in THRESHOLD_GRID]
    best = int(np.argmin(curve))
    positives = int(y_true.sum())
    negatives = len(y_true) - positives
    return {
        "auc": float(roc_auc_score(y_true, scores)),
        "threshold": threshold,
        "accuracy": float(accuracy_score(y_true, predicted)),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "confusion_matrix": matrix,
        "cost": costs.of(**matrix),
        "cost_optimal": {
            "threshold": float(THRESHOLD_GRID[best]),
            "cost": curve[best],
            "confusion_matrix": counts(y_true, scores, float(THRESHOLD_GRID[best])),
        },
        "cost_curve": {"thresholds": [float(t) for t in THRESHOLD_GRID], "costs": curve},
        "baselines": {
            "majority_class_accuracy": max(positives, negatives) / len(y_true),
            "random_auc": 0.5,
            "cost_offer_nobody": costs.fn * positives + costs.tn * negatives,
            "cost_offer_everybody": costs.tp * positives + costs.fp * negatives,
        },
    }


def model_archive(model: bytes) -> bytes:
    """Pack the model as the single-member ``model.tar.gz`` SageMaker unpacks into /opt/ml/model, byte-stable."""
    info = tarfile.TarInfo(MODEL_MEMBER)
    info.size = len(model)
    info.mode = 0o644
    info.mtime = 0
    buffer = io.BytesIO()
    # Fixed timestamps and no owner names: the same model always gives the same archive bytes.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        tar.addfile(info, io.BytesIO(model))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    """Return the hex sha256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


def _describe(data: bytes) -> dict[str, Any]:
    return {"sha256": sha256(data), "bytes": len(data)}


def train(
    data_path: Path = dataset.DATA_PATH,
    out_dir: Path = Path("artifacts"),
    *,
    seed: int = 42,
    threshold: float | None = None,
    test_size: float = 0.25,
    costs: Costs | None = None,
) -> dict[str, Any]:
    """Train, evaluate and package the model into ``out_dir``; return the metadata written to metadata.json.

    The threshold defaults to the template's Threshold default, the decision the deployed function makes.
    """
    threshold = default_threshold() if threshold is None else threshold
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be between 0 and 1, got {test_size}")
    if not is_probability(threshold):
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    costs = costs or Costs()
    data_path = Path(data_path)
    out_dir = Path(out_dir)
    data_bytes = data_path.read_bytes()
    frame = dataset.load(data_path)
    labels = frame[dataset.LABEL].to_numpy()

    train_rows, test_rows = train_test_split(
        np.arange(len(frame)), test_size=test_size, stratify=labels, random_state=seed
    )
    train_rows, test_rows = np.sort(train_rows), np.sort(test_rows)
    train_frame, test_frame = frame.iloc[train_rows], frame.iloc[test_rows]

    saved = fit_transformation(train_frame)
    transformation = Transformation.from_mapping(saved)
    x_train = feature_matrix(transformation, train_frame)
    x_test = feature_matrix(transformation, test_frame)
    y_train, y_test = labels[train_rows], labels[test_rows]

    params = {**HYPERPARAMETERS, "seed": seed}
    booster = xgb.train(params, xgb.DMatrix(x_train, label=y_train), num_boost_round=NUM_ROUND)
    model = bytes(booster.save_raw("ubj"))
    scores = booster.predict(xgb.DMatrix(x_test))
    metrics = evaluate(y_test, scores, threshold, costs)

    out_dir.mkdir(parents=True, exist_ok=True)
    transformation_bytes = dumps(saved)
    archive_bytes = model_archive(model)
    (out_dir / TRANSFORMATION_FILE).write_bytes(transformation_bytes)
    (out_dir / MODEL_ARCHIVE).write_bytes(archive_bytes)
    report_bytes = report.render(y_test, scores, metrics, costs=vars(costs))
    (out_dir / REPORT_FILE).write_bytes(report_bytes)

    metadata: dict[str, Any] = {
        "created_by": "churn_local.training.train",
        "versions": {
            "python": platform.python_version(),
            "xgboost": xgb.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
        "target_container": TARGET_CONTAINER,
        "xgboost_matches_container": xgb.__version__ == TARGET_CONTAINER["xgboost"],
        "seed": seed,
        "threshold": threshold,
        "cost_optimal_threshold": metrics["cost_optimal"]["threshold"],
        "costs": vars(costs),
        "hyperparameters": {**params, "num_round": NUM_ROUND},
        # The signature pairs the model with its transformation: the deployed function refuses any other one.
        "features": {
            "count": transformation.n_features,
            "names": transformation.feature_names,
            "signature": feature_signature(transformation.feature_names),
        },
        "split": {
            "test_size": test_size,
            "stratified_on": dataset.LABEL,
            "train_rows": len(train_rows),
            "test_rows": len(test_rows),
            "train_churn_rate": float(y_train.mean()),
            "test_churn_rate": float(y_test.mean()),
        },
        "metrics": metrics,
        "artifacts": {
            TRANSFORMATION_FILE: _describe(transformation_bytes),
            MODEL_ARCHIVE: _describe(archive_bytes),
            REPORT_FILE: _describe(report_bytes),
        },
        "model_member": {"name": MODEL_MEMBER, **_describe(model)},
        "data": {"file": data_path.name, "rows": len(frame), **_describe(data_bytes)},
        # 0-based data rows (header excluded) of the held-out split: integration tests score exactly these.
        "test_rows": [int(i) for i in test_rows],
    }
    (out_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return metadata


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m churn_local.training.train", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=dataset.DATA_PATH, help="the churn CSV (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("artifacts"), help="output directory (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=42, help="split and boosting seed (default: %(default)s)")
    parser.add_argument(
        "--threshold", type=float, default=None, help="decision threshold (default: template.yaml's Threshold)"
    )
    parser.add_argument("--test-size", type=float, default=0.25, help="held-out share (default: %(default)s)")
    parser.add_argument("--fn-cost", type=float, default=500.0, help="cost of a missed churner (default: %(default)s)")
    parser.add_argument("--fp-cost", type=float, default=100.0, help="cost of an unneeded offer (default: %(default)s)")
    parser.add_argument(
        "--tp-cost", type=float, default=100.0, help="cost of an offer to a churner (default: %(default)s)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Train from the command line and print the evaluation."""
    args = parse_args(argv)
    started = time.perf_counter()
    metadata = train(
        args.data,
        args.out,
        seed=args.seed,
        threshold=args.threshold,
        test_size=args.test_size,
        costs=Costs(fn=args.fn_cost, fp=args.fp_cost, tp=args.tp_cost),
    )
    elapsed = time.perf_counter() - started
    print(report.summary(metadata))
    print(f"\nwrote {', '.join(sorted(metadata['artifacts']))} and {METADATA_FILE} to {args.out} in {elapsed:.1f} s")
    if not metadata["xgboost_matches_container"]:
        print(
            f"note: trained with xgboost {metadata['versions']['xgboost']}, the target container runs "
            f"{TARGET_CONTAINER['xgboost']}; the UBJSON model loads there, but pin xgboost-cpu to match exactly.",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
