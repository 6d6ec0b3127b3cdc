"""The emulator's Lambda image: the project's own python3.13 image with the official image's entrypoint contract.

MiniStack's Docker executor runs a zip function in the image the runtime names, `public.ecr.aws/lambda/python:3.13`,
and pulls it only when the daemon lacks that name (ministackorg/ministack: ministack/services/lambda_svc.py). So it
is built here from churn_local.containers.lambda_image (Debian, no registry), tagged locally under that name.
What the official image adds, and MiniStack relies on: the handler as the container's command and an entrypoint
that runs the runtime interface emulator on /var/runtime/bootstrap, which listens on port 8080. The emulator is the
one SAM CLI's package ships (aws/aws-sam-cli: samcli/local/rapid), so no binary is downloaded either.

    python -m churn_local.emulator.image        # build unless the tag holds the current inputs; print the tag
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from churn_local.containers import lambda_image
from churn_local.containers.dockerd import DockerUnavailable, docker_cli
from churn_local.template.samcli import runtime_interface_emulator

# The name MiniStack runs python3.13 zip functions in (its runtime map); a local tag, never pulled.
RUNTIME_IMAGE = "public.ecr.aws/lambda/python:3.13"
KEY_LABEL = "churn-api.emulator-image-key"
RIE = runtime_interface_emulator("x86_64")
RIE_PATH = "/usr/local/bin/aws-lambda-rie"
ENTRYPOINT_PATH = "/lambda-entrypoint.sh"
# The official image's contract: one argument, the handler; the runtime interface emulator serves the bootstrap on
# :8080 unless a real Lambda runtime API is there (AWS_LAMBDA_RUNTIME_API).
ENTRYPOINT = f"""#!/bin/sh
if [ "$#" -ne 1 ]; then
  echo "the handler must be the only argument" >&2
  exit 142
fi
export _HANDLER="$1"
if [ -n "$AWS_LAMBDA_RUNTIME_API" ]; then
  exec /var/runtime/bootstrap
fi
exec {RIE_PATH} /var/runtime/bootstrap
"""
COMMIT_TIMEOUT_S = 120


def image_key() -> str:
    """Return the key of the derived image: the base image's key, the emulator binary and this entrypoint."""
    hasher = hashlib.sha256()
    for part in (lambda_image.image_key().encode(), hashlib.sha256(RIE.read_bytes()).digest(), ENTRYPOINT.encode()):
        hasher.update(part)
        hasher.update(b"\0")
    return hasher.hexdigest()[:12]


def current_key(tag: str = RUNTIME_IMAGE) -> str | None:
    """Return the key label of the image the daemon holds under tag, or None when it holds none of ours."""
    done = subprocess.run(
        [docker_cli(), "image", "inspect", tag, "--format", f'{{{{index .Config.Labels "{KEY_LABEL}"}}}}'],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    key = done.stdout.strip()
    return key if done.returncode == 0 and key and key != "<no value>" else None


def ensure_image(say: Callable[[str], None] = print) -> str:
    """Return RUNTIME_IMAGE, deriving it from the project's image first unless the daemon holds the current one."""
    key = image_key()
    if current_key() == key:
        return RUNTIME_IMAGE
    base = lambda_image.ensure_image(say)
    say(f"deriving {RUNTIME_IMAGE} from {base} (runtime interface emulator {RIE.name}, {ENTRYPOINT_PATH})")
    _derive(base, key)
    return RUNTIME_IMAGE


def _derive(base: str, key: str) -> None:
    docker = docker_cli()
    created = _run([docker, "create", base, "true"]).strip()
    try:
        with tempfile.TemporaryDirectory(prefix="churn-emulator-image-") as folder:
            entrypoint = Path(folder) / "lambda-entrypoint.sh"
            entrypoint.write_text(ENTRYPOINT, encoding="utf-8")
            entrypoint.chmod(0o755)
            _run([docker, "cp", str(RIE), f"{created}:{RIE_PATH}"])
            _run([docker, "cp", str(entrypoint), f"{created}:{ENTRYPOINT_PATH}"])
        changes = [f'ENTRYPOINT ["{ENTRYPOINT_PATH}"]', 'CMD ["churn_api.app.lambda_handler"]', "EXPOSE 8080"]
        changes += [f"LABEL {KEY_LABEL}={key}", "WORKDIR /var/task"]
        _run([docker, "commit", *(arg for change in changes for arg in ("--change", change)), created, RUNTIME_IMAGE])
    finally:
        subprocess.run([docker, "rm", "--force", created], capture_output=True, timeout=60, check=False)


def _run(command: Sequence[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=COMMIT_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed: {done.stderr.strip()}")
    return done.stdout


def remove_image() -> None:
    """Remove the derived image (only ours: its key label says so); the project's base image stays."""
    if current_key() is not None:
        subprocess.run([docker_cli(), "rmi", RUNTIME_IMAGE], capture_output=True, timeout=60, check=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the image unless it is current, and print its tag."""
    del argv

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        print(ensure_image(say))
    except (DockerUnavailable, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
