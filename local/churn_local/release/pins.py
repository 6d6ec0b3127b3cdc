"""The parameters that pin one training's artifacts: read and checked together, content-addressed, named for the stack.

The artifacts of one ``make train`` are addressed by a digest of their sha256s (``PREFIX/<digest>/<name>``), so
the same training always lands on the same keys. `make publish` uploads them there and `make deploy` refuses a pin
that does not name these bytes; the template parameters that carry the pins are built here once: the keys and
sha256s, the model version every answer names, and the threshold the model was trained with (metadata.json's).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from churn_api.drift import Baseline, BaselineError
from churn_api.integrity import check_feature_signature, sha256_hex, unpickle_same_sklearn
from churn_api.preprocessing import Transformation
from churn_api.provenance import model_version
from churn_api.rules import is_probability
from churn_local.constants import BASELINE_FILE, METADATA_FILE, MODEL_ARCHIVE, TRANSFORMATION_FILE

ARTIFACTS = (TRANSFORMATION_FILE, MODEL_ARCHIVE, METADATA_FILE, BASELINE_FILE)
DIGEST_LENGTH = 16


class PublishError(RuntimeError):
    """Publishing cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Artifacts:
    """One training's artifacts, read and checked to belong together."""

    files: Mapping[str, bytes]
    feature_signature: str
    threshold: float

    @property
    def version(self) -> str:
        """Return the model version the answers name: a digest of the model and the transformation."""
        return model_version(sha256_hex(self.files[TRANSFORMATION_FILE]), sha256_hex(self.files[MODEL_ARCHIVE]))

    @property
    def digest(self) -> str:
        """Return the content address: a sha256 over each artifact's name and sha256."""
        lines = "".join(f"{name} {sha256_hex(self.files[name])}\n" for name in ARTIFACTS)
        return hashlib.sha256(lines.encode()).hexdigest()[:DIGEST_LENGTH]


def read_artifacts(folder: Path) -> Artifacts:
    """Read the artifacts and refuse a set the deployed function would refuse, or one metadata.json disowns."""
    missing = [name for name in ARTIFACTS if not (folder / name).is_file()]
    if missing:
        raise PublishError(f"{folder} lacks {', '.join(missing)}: run `make train` first")
    files = {name: (folder / name).read_bytes() for name in ARTIFACTS}
    metadata = json.loads(files[METADATA_FILE])
    for name in (TRANSFORMATION_FILE, MODEL_ARCHIVE, BASELINE_FILE):
        if metadata["artifacts"].get(name, {}).get("sha256") != sha256_hex(files[name]):
            raise PublishError(f"{folder / name} is not the file metadata.json describes: retrain")
    threshold = metadata.get("threshold")
    if not isinstance(threshold, float | int) or isinstance(threshold, bool) or not is_probability(threshold):
        raise PublishError("metadata.json has no threshold between 0 and 1: retrain")
    try:
        Baseline.from_bytes(files[BASELINE_FILE])
    except BaselineError as exc:
        raise PublishError(f"{folder / BASELINE_FILE} is not a drift baseline: {exc}") from exc
    signature = metadata.get("features", {}).get("signature")
    if not signature:
        raise PublishError("metadata.json has no features.signature: retrain with this version of `make train`")
    try:
        transformation = Transformation.from_mapping(unpickle_same_sklearn(files[TRANSFORMATION_FILE]))
        check_feature_signature(transformation.feature_names, signature)
    except ValueError as exc:
        raise PublishError(f"the function would refuse {TRANSFORMATION_FILE}: {exc}") from exc
    return Artifacts(files, signature, float(threshold))


def keys_of(artifacts: Artifacts, prefix: str) -> dict[str, str]:
    """Return each artifact's content-addressed key: PREFIX/<digest>/<name>."""
    base = f"{prefix.strip('/')}/{artifacts.digest}" if prefix.strip("/") else artifacts.digest
    return {name: f"{base}/{name}" for name in ARTIFACTS}


def parameters_for(artifacts: Artifacts, bucket: str, prefix: str) -> dict[str, str]:
    """Return the template parameters that pin the artifacts published to `bucket` under `prefix`."""
    keys = keys_of(artifacts, prefix)
    return {
        "TransformBucket": bucket,
        "TransformKey": keys[TRANSFORMATION_FILE],
        "TransformSha256": sha256_hex(artifacts.files[TRANSFORMATION_FILE]),
        "FeatureSignature": artifacts.feature_signature,
        "ModelDataUrl": f"s3://{bucket}/{keys[MODEL_ARCHIVE]}",
        "ModelVersion": artifacts.version,
        "ModelThreshold": repr(artifacts.threshold),
        "DriftBaselineKey": keys[BASELINE_FILE],
        "DriftBaselineSha256": sha256_hex(artifacts.files[BASELINE_FILE]),
    }


def reference_key(artifacts: Artifacts, prefix: str, reference: bytes) -> str:
    """Return the reference cases' key beside the artifacts, addressed by their own content (events/ may change)."""
    base = keys_of(artifacts, prefix)[TRANSFORMATION_FILE].rsplit("/", 1)[0]
    return f"{base}/reference-{sha256_hex(reference)[:DIGEST_LENGTH]}.json"
