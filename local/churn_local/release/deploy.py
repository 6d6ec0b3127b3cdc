"""Deploy only what `make publish` pinned and artifacts/ holds, from per-user state that git never tracks.

`make publish` saves the parameters that pin the published artifacts in ``.churn-api/deploy.toml`` (git-ignored),
one table per samconfig environment: a clean checkout stays clean, and no commit points everyone's deploy at one
account's bucket. `make deploy` runs this module: it refuses unless the table names a bucket, a key and a sha256
that belong to the artifacts in ``artifacts/`` (and S3 holds those bytes), then runs ``sam build`` and ``sam deploy
--config-env ENV --parameter-overrides ...``: the environment's own overrides from the tracked samconfig.toml
(e.g. ``DeploymentType``), then the saved ones.

Usage: ``python -m churn_local.release.deploy [--config-env default] [--artifacts artifacts]
[--state .churn-api/deploy.toml] [--samconfig samconfig.toml] [--template-file packaged.yaml] [--no-s3-check]
[--dry-run] [-- more sam deploy arguments]``

``--template-file`` deploys a template `sam package` wrote (the pipeline's promotion: the same packaged code and
the same content-addressed artifacts, never rebuilt): no ``sam build`` then.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from churn_api.integrity import sha256_hex
from churn_local.constants import BASELINE_FILE, MODEL_ARCHIVE, TRANSFORMATION_FILE
from churn_local.release import pins, reference_cases
from churn_local.release.publish import S3_CONFIG
from churn_local.release.state import STATE_FILE, load_state, overrides_text, samconfig_overrides

# What a deployment of published artifacts cannot do without: the guard refuses a state that lacks one.
REQUIRED = ("TransformBucket", "TransformKey", "TransformSha256", "ModelVersion", "ModelThreshold")


class DeployError(RuntimeError):
    """The deploy would not deploy what was published; the message says what to do."""


def check_pins(saved: Mapping[str, str], expected: Mapping[str, str], env: str) -> None:
    """Refuse saved parameters that are missing or pin other artifacts than the local ones."""
    missing = [name for name in REQUIRED if not saved.get(name)]
    if missing:
        raise DeployError(
            f"no published artifacts for environment {env!r} ({', '.join(missing)} missing from {STATE_FILE}): "
            f"run `make publish BUCKET=... SAMCONFIG_ENV={env}` first"
        )
    for name, value in expected.items():
        if name in saved and saved[name] != value:
            raise DeployError(
                f"{STATE_FILE} [{env}] {name}={saved[name]} does not pin the artifacts in artifacts/ ({value}): "
                f"run `make publish BUCKET=... SAMCONFIG_ENV={env}` again"
            )


def expected_pins(artifacts: Path, bucket: str, key: str) -> dict[str, str]:
    """Return the pins the local artifacts give when published where `key` says (its prefix kept)."""
    try:
        local = pins.read_artifacts(artifacts)
    except pins.PublishError as exc:
        raise DeployError(str(exc)) from exc
    prefix = key.rsplit("/", 2)[0] if key.count("/") >= 2 else ""
    return pins.parameters_for(local, bucket, prefix)


def check_s3(saved: Mapping[str, str], artifacts: Path) -> None:
    """Refuse when S3 does not hold the pinned objects with the local bytes' sha256 (publish records it)."""
    s3 = boto3.session.Session().client("s3", config=S3_CONFIG)
    bucket = saved["TransformBucket"]
    objects = {saved["TransformKey"]: artifacts / TRANSFORMATION_FILE}
    if saved.get("DriftBaselineKey"):
        objects[saved["DriftBaselineKey"]] = artifacts / BASELINE_FILE
    if saved.get("ModelDataUrl"):
        objects[saved["ModelDataUrl"].removeprefix(f"s3://{bucket}/")] = artifacts / MODEL_ARCHIVE
    if saved.get("ReferenceKey"):
        # The pre-traffic check's cases, as publish wrote them beside the artifacts it scored them with.
        objects[saved["ReferenceKey"]] = artifacts / reference_cases.REFERENCE_FILE
        if not objects[saved["ReferenceKey"]].is_file():
            raise DeployError(f"{artifacts} has no {reference_cases.REFERENCE_FILE}: run `make publish` again")
    for key, local in objects.items():
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise DeployError(f"s3://{bucket}/{key} cannot be read ({exc}): run `make publish` again") from exc
        if head.get("Metadata", {}).get("sha256") != sha256_hex(local.read_bytes()):
            raise DeployError(f"s3://{bucket}/{key} does not hold {local}: run `make publish` again")


def deploy_commands(
    env: str,
    artifacts: Path,
    state: Path,
    samconfig: Path,
    *,
    s3_check: bool = True,
    packaged: Path | None = None,
    extra: Sequence[str] = (),
) -> list[list[str]]:
    """Check the saved pins against artifacts/ (and S3); return the sam build and sam deploy commands (only sam
    deploy of the packaged template when one is given), extra arguments last."""
    saved = load_state(state).get(env, {})
    check_pins(saved, {}, env)
    check_pins(saved, expected_pins(artifacts, saved["TransformBucket"], saved["TransformKey"]), env)
    if s3_check:
        check_s3(saved, artifacts)
    parameters = {**samconfig_overrides(samconfig, env), **saved}
    deploy = ["sam", "deploy", "--config-env", env, "--parameter-overrides", overrides_text(parameters)]
    if samconfig != Path("samconfig.toml"):
        deploy[2:2] = ["--config-file", str(samconfig)]
    if packaged is not None:
        return [[*deploy, "--template-file", str(packaged), *extra]]
    return [["sam", "build"], [*deploy, *extra]]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m churn_local.release.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--config-env", default="default", help="samconfig environment (default: %(default)s)")
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="folder (default: %(default)s)")
    parser.add_argument("--state", type=Path, default=STATE_FILE, help="per-user state (default: %(default)s)")
    parser.add_argument("--samconfig", type=Path, default=Path("samconfig.toml"), help="(default: %(default)s)")
    parser.add_argument("--no-s3-check", action="store_true", help="do not HEAD the pinned objects in S3")
    parser.add_argument("--dry-run", action="store_true", help="check, then print the commands instead of running")
    parser.add_argument("--template-file", type=Path, help="deploy this packaged template (sam package's), no build")
    parser.add_argument("extra", nargs="*", help="more `sam deploy` arguments, after --")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Check, then build and deploy (or print the commands); one clear line and exit status 2 when refused."""
    args = parse_args(argv)
    try:
        commands = deploy_commands(
            args.config_env,
            args.artifacts,
            args.state,
            args.samconfig,
            s3_check=not args.no_s3_check,
            packaged=args.template_file,
            extra=args.extra,
        )
    except DeployError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 2
    for command in commands:
        print(shlex.join(command), flush=True)
        if not args.dry_run and (code := subprocess.run(command, check=False).returncode):
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
