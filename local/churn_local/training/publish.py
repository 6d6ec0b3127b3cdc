"""Publish the trained artifacts to S3 under a content-addressed prefix and print the `sam deploy` parameters.

Usage: ``python -m churn_local.training.publish --bucket BUCKET [--prefix churn-api] [--artifacts artifacts]
[--endpoint-name churn-xgboost] [--existing-endpoint] [--samconfig-env default] [--samconfig samconfig.toml]``

The three artifacts of one ``make train`` (transformation.sav, model.tar.gz, metadata.json) go to
``s3://BUCKET/PREFIX/<digest>/``, where the digest is derived from their sha256s: the same training always lands on
the same keys, another training on other keys, and an object that exists is never overwritten (a conditional
PUT, ``If-None-Match: *``, after a HEAD). Before anything is uploaded the pair is checked the way the deployed
function checks it: the transformation loads with this scikit-learn and gives the features the model was trained
on. Any S3 works through boto3's standard variables (``AWS_ENDPOINT_URL_S3``, ``AWS_PROFILE``...).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from churn_api.integrity import check_feature_signature, sha256_hex, unpickle_same_sklearn
from churn_api.preprocessing import Transformation
from churn_local.constants import METADATA_FILE, MODEL_ARCHIVE, PROJECT_ROOT, TRANSFORMATION_FILE

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


def publish(artifacts: Artifacts, s3: Any, bucket: str, prefix: str) -> tuple[dict[str, str], dict[str, str]]:
    """Upload the artifacts; return what happened to each key and the template parameters that pin them."""
    keys = keys_of(artifacts, prefix)
    try:
        check_bucket(s3, bucket)
        outcomes = {keys[name]: upload_once(s3, bucket, keys[name], artifacts.files[name]) for name in ARTIFACTS}
    except NoCredentialsError as exc:
        raise PublishError(
            "no AWS credentials found: set AWS_PROFILE, or run `aws configure` / `aws sso login`"
        ) from exc
    except (ClientError, BotoCoreError) as exc:
        raise PublishError(f"S3 refused the upload: {exc}") from exc
    return outcomes, parameters_for(artifacts, bucket, prefix)


def overrides_text(parameters: Mapping[str, str]) -> str:
    """Render parameters as `sam deploy --parameter-overrides` takes them (and samconfig stores them)."""
    return " ".join(f"{name}={shlex.quote(value)}" for name, value in parameters.items())


def save_to_samconfig(path: Path, env: str, parameters: Mapping[str, str]) -> None:
    """Merge the parameters into `parameter_overrides` of one samconfig environment, with SAM CLI's own writer."""
    from samcli.lib.config.samconfig import DEFAULT_ENV, SamConfig

    # Read with tomllib: SamConfig.get_all hands out its live tables, merged with the global section.
    existing = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    sections = existing.get(env, {})
    deploy = dict(sections.get("deploy", {}).get("parameters", {}))
    config = SamConfig(str(path.parent), path.name)
    if env != DEFAULT_ENV and not deploy:
        # A new environment starts from the default one's settings (stack name, capabilities, resolve_s3...).
        default = existing.get(DEFAULT_ENV, {})
        for command in ("global", "deploy"):
            for key, value in default.get(command, {}).get("parameters", {}).items():
                config.put([command], "parameters", key, value, env=env)
    current = dict(pair.split("=", 1) for pair in shlex.split(str(deploy.get("parameter_overrides", ""))))
    current.update(parameters)
    config.put(["deploy"], "parameters", "parameter_overrides", overrides_text(current), env=env)
    config.flush()


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
    parser.add_argument("--samconfig-env", help="also save the parameters in this samconfig environment")
    parser.add_argument("--samconfig", type=Path, default=PROJECT_ROOT / "samconfig.toml", help="%(default)s")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Publish from the command line; one clear line and exit status 1 on failure."""
    args = parse_args(argv)
    try:
        artifacts = read_artifacts(args.artifacts)
        s3 = boto3.session.Session().client("s3", config=S3_CONFIG)
        outcomes, parameters = publish(artifacts, s3, args.bucket, args.prefix)
    except PublishError as exc:
        print(f"publish: {exc}", file=sys.stderr)
        return 1
    parameters = {"EndpointName": args.endpoint_name, **parameters}
    if args.existing_endpoint:
        del parameters["ModelDataUrl"]
    for key, outcome in outcomes.items():
        print(f"s3://{args.bucket}/{key}: {outcome}")
    print("\nsam deploy --parameter-overrides " + overrides_text(parameters))
    if args.samconfig_env:
        save_to_samconfig(args.samconfig, args.samconfig_env, parameters)
        print(f"\nsaved in {args.samconfig} [{args.samconfig_env}.deploy.parameters]: `make deploy` uses them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
