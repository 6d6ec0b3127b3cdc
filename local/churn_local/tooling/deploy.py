"""Deploy only what `make publish` pinned and artifacts/ holds, from per-user state that git never tracks.

`make publish` saves the parameters that pin the published artifacts in ``.churn-api/deploy.toml`` (git-ignored),
one table per samconfig environment: a clean checkout stays clean, and no commit points everyone's deploy at one
account's bucket. `make deploy` runs this module: it refuses unless the table names a bucket, a key and a sha256
that belong to the artifacts in ``artifacts/`` (and S3 holds those bytes), then runs ``sam build`` and ``sam deploy
--config-env ENV --parameter-overrides ...``: the environment's own overrides from the tracked samconfig.toml
(e.g. ``DeploymentType``), then the saved ones.

Usage: ``python -m churn_local.tooling.deploy [--config-env default] [--artifacts artifacts]
[--state .churn-api/deploy.toml] [--samconfig samconfig.toml] [--no-s3-check] [--dry-run]``
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tomlkit

STATE_FILE = Path(".churn-api") / "deploy.toml"
STATE_HEADER = (
    "Per-user deploy state, written by `make publish` and read by `make deploy`; git-ignored, never commit it.\n"
    "One table per samconfig environment; a parameter added here by hand is kept by the next `make publish`."
)
# What a deployment of published artifacts cannot do without: the guard refuses a state that lacks one.
REQUIRED = ("TransformBucket", "TransformKey", "TransformSha256")


class DeployError(RuntimeError):
    """The deploy would not deploy what was published; the message says what to do."""


def load_state(path: Path) -> dict[str, dict[str, str]]:
    """Return the saved parameters of every environment (none when the file does not exist)."""
    if not path.is_file():
        return {}
    tables = tomllib.loads(path.read_text(encoding="utf-8"))
    return {env: {name: str(value) for name, value in table.items()} for env, table in tables.items()}


def save_parameters(path: Path, env: str, parameters: Mapping[str, str]) -> dict[str, str]:
    """Merge parameters into one environment's table (keeping the others and any set by hand); return the table."""
    document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.is_file() else tomlkit.document()
    if not document.body:
        for line in STATE_HEADER.splitlines():
            document.add(tomlkit.comment(line))
    table = document.get(env)
    if table is None:
        table = tomlkit.table()
        document.add(env, table)
    for name, value in parameters.items():
        table[name] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomlkit.dumps(document), encoding="utf-8")
    return {name: str(value) for name, value in table.items()}


def samconfig_overrides(path: Path, env: str) -> dict[str, str]:
    """Return the `parameter_overrides` a tracked samconfig environment sets (e.g. its DeploymentType)."""
    if not path.is_file():
        return {}
    config: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    text = str(config.get(env, {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", ""))
    return dict(pair.split("=", 1) for pair in shlex.split(text))


def overrides_text(parameters: Mapping[str, str]) -> str:
    """Render parameters as `sam deploy --parameter-overrides` takes them."""
    return " ".join(f"{name}={shlex.quote(value)}" for name, value in parameters.items())


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
    from churn_local.training import publish

    try:
        local = publish.read_artifacts(artifacts)
    except publish.PublishError as exc:
        raise DeployError(str(exc)) from exc
    prefix = key.rsplit("/", 2)[0] if key.count("/") >= 2 else ""
    return publish.parameters_for(local, bucket, prefix)


def check_s3(saved: Mapping[str, str], artifacts: Path) -> None:
    """Refuse when S3 does not hold the pinned objects with the local bytes' sha256 (publish records it)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from churn_api.integrity import sha256_hex
    from churn_local.training import publish, reference_cases

    s3 = boto3.session.Session().client("s3", config=publish.S3_CONFIG)
    bucket = saved["TransformBucket"]
    objects = {saved["TransformKey"]: artifacts / publish.TRANSFORMATION_FILE}
    if saved.get("ModelDataUrl"):
        objects[saved["ModelDataUrl"].removeprefix(f"s3://{bucket}/")] = artifacts / publish.MODEL_ARCHIVE
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
    env: str, artifacts: Path, state: Path, samconfig: Path, *, s3_check: bool = True
) -> list[list[str]]:
    """Check the saved pins against artifacts/ (and S3); return the sam build and sam deploy commands."""
    saved = load_state(state).get(env, {})
    check_pins(saved, {}, env)
    check_pins(saved, expected_pins(artifacts, saved["TransformBucket"], saved["TransformKey"]), env)
    if s3_check:
        check_s3(saved, artifacts)
    parameters = {**samconfig_overrides(samconfig, env), **saved}
    deploy = ["sam", "deploy", "--config-env", env, "--parameter-overrides", overrides_text(parameters)]
    if samconfig != Path("samconfig.toml"):
        deploy[2:2] = ["--config-file", str(samconfig)]
    return [["sam", "build"], deploy]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m churn_local.tooling.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--config-env", default="default", help="samconfig environment (default: %(default)s)")
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="folder (default: %(default)s)")
    parser.add_argument("--state", type=Path, default=STATE_FILE, help="per-user state (default: %(default)s)")
    parser.add_argument("--samconfig", type=Path, default=Path("samconfig.toml"), help="(default: %(default)s)")
    parser.add_argument("--no-s3-check", action="store_true", help="do not HEAD the pinned objects in S3")
    parser.add_argument("--dry-run", action="store_true", help="check, then print the commands instead of running")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Check, then build and deploy (or print the commands); one clear line and exit status 2 when refused."""
    args = parse_args(argv)
    try:
        commands = deploy_commands(
            args.config_env, args.artifacts, args.state, args.samconfig, s3_check=not args.no_s3_check
        )
    except DeployError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 2
    for command in commands:
        print(shlex.join(command), flush=True)
        if not args.dry_run and (code := subprocess.run(command, check=False).returncode):  # noqa: S603 - sam itself
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
