"""The function in SAM CLI's emulator: `sam build`, then `python -m churn_local.containers.sam_local` as a subprocess.

Skipped, with the reason, only where no container runtime can start (no docker.io, not root); in CI (CI=true) that
is a failure. One start-api for the whole session: the tests share its warm container and its local stack.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from churn_local.constants import PROJECT_ROOT
from churn_local.containers import dockerd, lambda_image, sam_local
from tests.containers.in_process import ANSWER

VENV_BIN = Path(sys.executable).parent
# A fresh machine debootstraps and builds the image first (about a minute); later runs reuse it.
READY_TIMEOUT_S = 420.0


def _require_container_runtime() -> str:
    """Start dockerd if needed and return the Lambda image's tag (built first unless the daemon has it)."""
    try:
        dockerd.ensure_running()
        return lambda_image.ensure_image(lambda text: None)
    except dockerd.DockerUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the container tests, but no container runtime starts: {exc}")
        pytest.skip(f"no container runtime can start here: {exc}")


@dataclass
class SamLocalRun:
    """A running `sam local start-api` in front of the local stack, and what it printed."""

    process: subprocess.Popen[str]
    urls: dict[str, str]
    lines: list[str] = field(default_factory=list)

    @property
    def api(self) -> str:
        """Return sam local start-api's URL."""
        return self.urls["api"]

    @property
    def local_api(self) -> str:
        """Return the URL of make serve's local API on the same stack."""
        return self.urls["local_api"]

    def invoke_command(self, event: Path, env_vars: Path | None = None) -> list[str]:
        """Return `sam local invoke` of one event, on the same template, variables and image as start-api."""
        return [
            str(VENV_BIN / "sam"), "local", "invoke", sam_local.FUNCTION,
            "--template", self.urls["template"], "--env-vars", str(env_vars or self.urls["env_vars"]),
            "--invoke-image", self.urls["image"], "--skip-pull-image", "--region", "us-east-1",
            "--container-host", "127.0.0.1", "--container-host-interface", "127.0.0.1", "--event", str(event),
        ]  # fmt: skip


def invoke(run: SamLocalRun, event: Path, env_vars: Path | None = None) -> tuple[Any, str]:
    """Run `sam local invoke` on one event; return the function's answer (its stdout as JSON) and SAM's log."""
    done = subprocess.run(
        run.invoke_command(event, env_vars),
        env=sam_local.sam_environment(),
        capture_output=True,
        text=True,
        timeout=180,
        cwd=PROJECT_ROOT,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"sam local invoke {event.name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout), done.stderr


@pytest.fixture(scope="session")
def runtime_image() -> str:
    """Return the Lambda image's tag, built first unless the daemon has it."""
    return _require_container_runtime()


@pytest.fixture(scope="package")
def sam_built(runtime_image: str, sam_build: Path) -> Path:
    """Return the session's `sam build` output (tests/conftest.py), once a container runtime is there to run it."""
    return sam_build


def _drain(stream: Any, lines: list[str], urls: dict[str, str], ready: threading.Event) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))
        match = sam_local.READY_LINE.search(line)
        if match:
            urls.update(match.groupdict())
            ready.set()
    ready.set()


def start(build_dir: Path, artifacts: Path, env_vars: Path, extra: Sequence[str] = ()) -> SamLocalRun:
    """Start `python -m churn_local.containers.sam_local` and wait for its ready line."""
    command = [sys.executable, "-m", "churn_local.containers.sam_local", "--build-dir", str(build_dir)]
    command += ["--artifacts", str(artifacts), "--env-vars", str(env_vars), *extra]
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    run = SamLocalRun(process, {})
    ready = threading.Event()
    threading.Thread(target=_drain, args=(process.stdout, run.lines, run.urls, ready), daemon=True).start()
    if not ready.wait(READY_TIMEOUT_S) or not run.urls:
        stop(run)
        pytest.fail("sam_local did not get ready:\n" + "\n".join(run.lines[-60:]))
    return run


def stop(run: SamLocalRun) -> None:
    """Stop it as Ctrl-C does: SAM CLI removes its containers, then the stack stops."""
    if run.process.poll() is None:
        run.process.send_signal(signal.SIGINT)
        try:
            run.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(run.process.pid, signal.SIGKILL)
            run.process.wait()
    if run.process.stdout is not None:
        run.process.stdout.close()


# Package scope: the container and the stack stop after the last test here, not at the end of the whole session.
@pytest.fixture(scope="package")
def sam_run(
    sam_built: Path, trained_artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SamLocalRun]:
    """Start SAM CLI's start-api (warm container, EAGER) in front of the local stack, once for these tests."""
    env_vars = tmp_path_factory.mktemp("sam-local") / "env-vars.json"
    run = start(sam_built, trained_artifacts, env_vars)
    yield run
    stop(run)


def in_process_answers(run: SamLocalRun, artifacts: Path, events: Sequence[Path]) -> list[Any]:
    """Return the handler's answers to events when it runs in-process as in make serve, on the same stack."""
    command = [sys.executable, "-m", "tests.containers.in_process", "--artifacts", str(artifacts)]
    command += ["--s3", run.urls["s3"], "--endpoint", run.urls["endpoint"], *map(str, events)]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        pytest.fail(f"the in-process handler failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return [json.loads(line.removeprefix(ANSWER)) for line in done.stdout.splitlines() if line.startswith(ANSWER)]


def without_request_ids(answer: Mapping[str, Any]) -> dict[str, Any]:
    """Return an error answer without its requestId (Lambda's per-invocation id, different on every call)."""
    copy = json.loads(json.dumps(answer))
    if isinstance(copy.get("error"), dict):
        copy["error"].pop("requestId", None)
    return dict(copy)
