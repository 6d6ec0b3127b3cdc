"""Publish the trained artifacts to S3 under a content-addressed prefix and print the `sam deploy` parameters.

Usage: ``python -m churn_local.training.publish --bucket BUCKET [--prefix churn-api] [--artifacts artifacts]
[--endpoint-name churn-xgboost] [--existing-endpoint] [--config-env default] [--state .churn-api/deploy.toml]``

The three artifacts of one ``make train`` (transformation.sav, model.tar.gz, metadata.json) go to
``s3://BUCKET/PREFIX/<digest>/``, where the digest is derived from their sha256s: the same training always lands on
the same keys, another training on other keys, and an object that exists is never overwritten (a conditional
PUT, ``If-None-Match: *``, after a HEAD). Before anything is uploaded the pair is checked the way the deployed
function checks it: the transformation loads with this scikit-learn and gives the features the model was trained
on. Beside them goes reference.json (churn_local.training.reference_cases), the cases the pre-traffic check
replays with the answers these artifacts give. Any S3 works through boto3's standard variables
(``AWS_ENDPOINT_URL_S3``, ``AWS_PROFILE``...).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from churn_api.integrity import check_feature_signature, sha256_hex, unpickle_same_sklearn
from churn_api.preprocessing import Transformation
from churn_local.constants import METADATA_FILE, MODEL_ARCHIVE, TRANSFORMATION_FILE
from churn_local.tooling import deploy
from churn_local.training import reference_cases

ARTIFACTS = (TRANSFORMATION_FILE, MODEL_ARCHIVE, METADATA_FILE)
DIGEST_LENGTH = 16
DEFAULT_ENDPOINT_NAME = "churn-xgboost"
DEFAULT_PREFIX = "churn-api"
S3_CONFIG = Config(connect_timeout=5, read_timeout=60, retries={"mode": "standard", "total_max_attempts": 3})


class PublishError(RuntimeError):
    """Publishing cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Artifacts:
    """One training's artifacts, read and checked to belong together."""

    files: Mapping[str, bytes]
    feature_signature: str

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
    for name in (TRANSFORMATION_FILE, MODEL_ARCHIVE):
        if metadata["artifacts"][name]["sha256"] != sha256_hex(files[name]):
            raise PublishError(f"{folder / name} is not the file metadata.json describes: retrain")
    signature = metadata.get("features", {}).get("signature")
    if not signature:
        raise PublishError("metadata.json has no features.signature: retrain with this version of `make train`")
    try:
        transformation = Transformation.from_mapping(unpickle_same_sklearn(files[TRANSFORMATION_FILE]))
        check_feature_signature(transformation.feature_names, signature)
    except ValueError as exc:
        raise PublishError(f"the function would refuse {TRANSFORMATION_FILE}: {exc}") from exc
    return Artifacts(files, signature)


def upload_once(s3: Any, bucket: str, key: str, body: bytes) -> str:
    """Put an object unless it exists; return "uploaded" or "already there"; refuse to replace other content."""
    digest = sha256_hex(body)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
    else:
        if head.get("Metadata", {}).get("sha256") != digest:
            raise PublishError(f"s3://{bucket}/{key} exists with other content: it is never overwritten")
        return "already there"
    try:
        # Conditional write: if another upload got there between the HEAD and now, S3 answers 412 instead.
        s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*", Metadata={"sha256": digest})
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
            raise PublishError(f"s3://{bucket}/{key} appeared while publishing: run again to check it") from exc
        raise
    return "uploaded"


def check_bucket(s3: Any, bucket: str) -> None:
    """Fail with one clear line when the bucket is missing, not ours, or the credentials are."""
    try:
        s3.head_bucket(Bucket=bucket)
    except NoCredentialsError as exc:
        raise PublishError(
            "no AWS credentials found: set AWS_PROFILE, or run `aws configure` / `aws sso login`"
        ) from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise PublishError(f"bucket {bucket} does not exist: create it (aws s3 mb s3://{bucket})") from exc
        if code in ("403", "AccessDenied", "Forbidden"):
            raise PublishError(f"access to bucket {bucket} is denied: it belongs to another account") from exc
        raise


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
    }


def reference_key(artifacts: Artifacts, prefix: str, reference: bytes) -> str:
    """Return the reference cases' key beside the artifacts, addressed by their own content (events/ may change)."""
    base = keys_of(artifacts, prefix)[TRANSFORMATION_FILE].rsplit("/", 1)[0]
    return f"{base}/reference-{sha256_hex(reference)[:DIGEST_LENGTH]}.json"


def publish(
    artifacts: Artifacts, s3: Any, bucket: str, prefix: str, reference: bytes | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """Upload the artifacts (and the reference cases); return what happened to each key and the parameters."""
    keys = keys_of(artifacts, prefix)
    bodies = {keys[name]: artifacts.files[name] for name in ARTIFACTS}
    extra: dict[str, str] = {}
    if reference is not None:
        bodies[reference_key(artifacts, prefix, reference)] = reference
        extra = {"ReferenceKey": reference_key(artifacts, prefix, reference), "ReferenceSha256": sha256_hex(reference)}
    try:
        check_bucket(s3, bucket)
        outcomes = {key: upload_once(s3, bucket, key, body) for key, body in bodies.items()}
    except NoCredentialsError as exc:
        raise PublishError(
            "no AWS credentials found: set AWS_PROFILE, or run `aws configure` / `aws sso login`"
        ) from exc
    except (ClientError, BotoCoreError) as exc:
        raise PublishError(f"S3 refused the upload: {exc}") from exc
    return outcomes, {**parameters_for(artifacts, bucket, prefix), **extra}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m churn_local.training.publish", description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", required=True, help="the S3 bucket (it must exist)")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="key prefix (default: %(default)s)")
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="folder (default: %(default)s)")
    parser.add_argument(
        "--endpoint-name", default=DEFAULT_ENDPOINT_NAME, help="the SageMaker endpoint (default: %(default)s)"
    )
    parser.add_argument(
        "--existing-endpoint",
        action="store_true",
        help="do not host the model in the stack: EndpointName names an endpoint that exists (no ModelDataUrl)",
    )
    parser.add_argument(
        "--config-env", help="also save the parameters for this samconfig environment in --state (`make deploy`)"
    )
    parser.add_argument(
        "--state", type=Path, default=deploy.STATE_FILE, help="per-user, git-ignored (default: %(default)s)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Publish from the command line; one clear line and exit status 1 on failure."""
    args = parse_args(argv)
    try:
        artifacts = read_artifacts(args.artifacts)
        # The cases the pre-traffic check replays, scored with these artifacts (artifacts/reference.json).
        reference = reference_cases.write(args.artifacts)
        s3 = boto3.session.Session().client("s3", config=S3_CONFIG)
        outcomes, parameters = publish(artifacts, s3, args.bucket, args.prefix, reference)
    except PublishError as exc:
        print(f"publish: {exc}", file=sys.stderr)
        return 1
    parameters = {"EndpointName": args.endpoint_name, **parameters}
    if args.existing_endpoint:
        del parameters["ModelDataUrl"]
    for key, outcome in outcomes.items():
        print(f"s3://{args.bucket}/{key}: {outcome}")
    print("\nsam deploy --parameter-overrides " + deploy.overrides_text(parameters))
    if args.config_env:
        deploy.save_parameters(args.state, args.config_env, parameters)
        print(f"\nsaved in {args.state} [{args.config_env}] (yours alone, git-ignored): `make deploy` deploys them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
