"""Publish the trained artifacts to S3 under a content-addressed prefix and print the `sam deploy` parameters.

Usage: ``python -m churn_local.release.publish --bucket BUCKET [--prefix churn-api] [--artifacts artifacts]
[--endpoint-name churn-xgboost] [--existing-endpoint] [--config-env default] [--state .churn-api/deploy.toml]``

The three artifacts of one ``make train`` (transformation.sav, model.tar.gz, metadata.json) go to
``s3://BUCKET/PREFIX/<digest>/``, where the digest is derived from their sha256s: the same training always lands on
the same keys, another training on other keys, and an object that exists is never overwritten (a conditional
PUT, ``If-None-Match: *``, after a HEAD). Before anything is uploaded the pair is checked the way the deployed
function checks it: the transformation loads with this scikit-learn and gives the features the model was trained
on. Beside them goes reference.json (churn_local.release.reference_cases), the cases the pre-traffic check
replays with the answers these artifacts give. Any S3 works through boto3's standard variables
(``AWS_ENDPOINT_URL_S3``, ``AWS_PROFILE``...).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from churn_api.integrity import sha256_hex
from churn_local.release import reference_cases, state
from churn_local.release.pins import (
    ARTIFACTS,
    Artifacts,
    PublishError,
    keys_of,
    parameters_for,
    read_artifacts,
    reference_key,
)

DEFAULT_ENDPOINT_NAME = "churn-xgboost"
DEFAULT_PREFIX = "churn-api"
S3_CONFIG = Config(connect_timeout=5, read_timeout=60, retries={"mode": "standard", "total_max_attempts": 3})


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
    parser = argparse.ArgumentParser(prog="python -m churn_local.release.publish", description=__doc__.splitlines()[0])
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
        "--state", type=Path, default=state.STATE_FILE, help="per-user, git-ignored (default: %(default)s)"
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
    print("\nsam deploy --parameter-overrides " + state.overrides_text(parameters))
    if args.config_env:
        state.save_parameters(args.state, args.config_env, parameters)
        print(f"\nsaved in {args.state} [{args.config_env}] (yours alone, git-ignored): `make deploy` deploys them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
