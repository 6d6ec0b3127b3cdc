"""The emulated AWS: MiniStack and the local SageMaker endpoint, started once, deployed into with the real commands.

`Emulated.start()` starts both in the background (dockerd and the Lambda image first), and records their pids in
a state folder; `publish()` runs `make publish`'s module against the engine's S3, `deploy()` runs `sam deploy` of
a `sam build` output (pre-resolved for the engine: churn_local.emulator.template) with the project's samconfig
environment, `delete()` runs `sam delete`, and `stop()` stops exactly what start() started, by pid. The local
SageMaker endpoint is churn_local.services.sagemaker_endpoint (what `make serve` runs) on the daemon's bridge
address: the engine has no SageMaker, and the containers reach this machine only there.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from churn_local.constants import DEFAULT_ARTIFACTS, LOCAL_REGION, MODEL_ARCHIVE, PROJECT_ROOT
from churn_local.containers import dockerd, processes
from churn_local.emulator import engine, image
from churn_local.emulator.template import write_for_engine
from churn_local.release import outputs, state
from churn_local.services.http_server import free_port
from churn_local.template.expansion import Deployment

STATE_DIR = PROJECT_ROOT / ".churn-api" / "emulated"
ENDPOINT_MARKER = "churn_local.services.sagemaker_endpoint"
ENDPOINT_NAME = "churn-xgboost"
BUCKET = "churn-api-emulated"
# The samconfig environment whose settings (capabilities, resolve_s3, s3_prefix...) every emulated deploy uses.
CONFIG_ENV = "default"
SAMCONFIG = PROJECT_ROOT / "samconfig.toml"
# A deploy or delete that takes longer is hung: it is killed with its process group, and the engine's log named.
DEPLOY_TIMEOUT_S = 600.0
PUBLISH_TIMEOUT_S = 120.0


class EmulatorError(RuntimeError):
    """The emulated deploy cannot go on; the message is the one line the user sees."""


@dataclass
class Record:
    """What was started and deployed, saved in the state folder so that another command can stop it."""

    port: int
    hosts: list[str]
    sagemaker_url: str
    engine_pid: int = 0
    endpoint_pid: int = 0
    concurrency: int = engine.DEFAULT_CONCURRENCY
    stacks: list[str] = field(default_factory=list)

    def settings(self) -> engine.EngineSettings:
        """Return the engine's settings."""
        return engine.EngineSettings(self.port, tuple(self.hosts), self.sagemaker_url, self.concurrency)


class Emulated:
    """The engine and the local endpoint, their state in one folder."""

    def __init__(self, state_dir: Path = STATE_DIR, say: Callable[[str], None] = print) -> None:
        self.state_dir = state_dir
        self.say = say
        self.record: Record | None = self._load()

    # -- the record --------------------------------------------------------------------------------------------------
    @property
    def record_file(self) -> Path:
        """Return the file that remembers the pids, ports and stacks."""
        return self.state_dir / "engine.json"

    @property
    def deploy_state(self) -> Path:
        """Return `make publish`'s state for the engine: apart from the user's own .churn-api/deploy.toml."""
        return self.state_dir / "deploy.toml"

    def _load(self) -> Record | None:
        try:
            return Record(**json.loads(self.record_file.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def _save(self) -> None:
        assert self.record is not None  # noqa: S101 - narrows the type: saved once started
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.record_file.write_text(json.dumps(asdict(self.record), indent=1) + "\n", encoding="utf-8")

    def running(self) -> bool:
        """Tell whether the recorded engine and endpoint are both still the processes started."""
        r = self.record
        if r is None:
            return False
        return processes.is_running(r.engine_pid, engine.APP) and processes.is_running(r.endpoint_pid, ENDPOINT_MARKER)

    @property
    def client_environment(self) -> dict[str, str]:
        """Return the standard AWS variables that reach this engine (and SageMaker at the local endpoint)."""
        if self.record is None:
            raise EmulatorError("the emulator is not running: make deploy-emulated starts it")
        return engine.client_environment(self.record.settings().url, self.record.sagemaker_url)

    def environment(self) -> dict[str, str]:
        """Return this process's environment with the AWS variables pointing at the engine."""
        return {**engine.without_aws_profile(os.environ), **self.client_environment}

    # -- start and stop ----------------------------------------------------------------------------------------------
    def start(
        self,
        port: int = engine.DEFAULT_PORT,
        artifacts: Path = DEFAULT_ARTIFACTS,
        concurrency: int = engine.DEFAULT_CONCURRENCY,
    ) -> Record:
        """Start the engine and the endpoint unless they run already; return the record."""
        if self.running():
            assert self.record is not None  # noqa: S101 - narrows the type: running() checked it
            return self.record
        version = engine.installed_version()
        if dockerd.ensure_running() == "started":
            self.say("dockerd started (no NAT, no forwarding: containers reach this machine only)")
        gateway = dockerd.bridge_gateway()
        image.ensure_image(self.say)
        endpoint_port = free_port(gateway)
        self.record = Record(port, ["127.0.0.1", gateway], f"http://{gateway}:{endpoint_port}", concurrency=concurrency)
        self._save()
        try:
            self.record.endpoint_pid = processes.start_detached(
                [sys.executable, "-m", ENDPOINT_MARKER, "--model", str(artifacts / MODEL_ARCHIVE)]
                + ["--endpoint-name", ENDPOINT_NAME, "--host", gateway, "--port", str(endpoint_port)],
                engine.without_aws_profile(os.environ),
                self.state_dir / "endpoint.log",
                PROJECT_ROOT,
            )
            self._save()
            self._wait_for_endpoint(gateway, endpoint_port)
            settings = self.record.settings()
            self.record.engine_pid = processes.start_detached(
                engine.engine_command(settings), engine.engine_environment(settings), self.engine_log, PROJECT_ROOT
            )
            self._save()
            pid = self.record.engine_pid
            found = engine.wait_ready(settings.url, lambda: processes.alive(pid, engine.APP))
        except BaseException:
            self.stop()
            raise
        self.say(f"MiniStack {found.get('version') or version} at {settings.url}, pid {pid}; log {self.engine_log}")
        return self.record

    def _wait_for_endpoint(self, host: str, port: int, timeout_s: float = 60.0) -> None:
        """Wait until the local endpoint accepts connections (it loads the model first); fail if it exits."""
        assert self.record is not None  # noqa: S101 - narrows the type: called while starting
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not processes.alive(self.record.endpoint_pid, ENDPOINT_MARKER):
                raise EmulatorError(f"the local SageMaker endpoint exited:\n{_tail(self.state_dir / 'endpoint.log')}")
            with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
                return
            time.sleep(0.2)
        raise EmulatorError(f"the local SageMaker endpoint did not listen within {timeout_s:g} s")

    @property
    def engine_log(self) -> Path:
        """Return the engine's log file."""
        return self.state_dir / "engine.log"

    def stop(self) -> list[str]:
        """Stop the engine and the endpoint by pid, remove any container the engine left; say what happened."""
        r = self.record
        if r is None:
            return ["nothing was started here"]
        said = [
            f"MiniStack (pid {r.engine_pid}): {processes.stop(r.engine_pid, engine.APP)}" if r.engine_pid else "",
            f"SageMaker endpoint (pid {r.endpoint_pid}): {processes.stop(r.endpoint_pid, ENDPOINT_MARKER)}"
            if r.endpoint_pid
            else "",
        ]
        try:
            left = engine.remove_containers(r.port)
        except dockerd.DockerUnavailable:
            left = []
        said.append(f"containers left by the engine and removed: {len(left)}")
        self.record_file.unlink(missing_ok=True)
        self.record = None
        return [line for line in said if line]

    # -- publish, deploy, delete -------------------------------------------------------------------------------------
    def publish(self, artifacts: Path = DEFAULT_ARTIFACTS, bucket: str = BUCKET) -> dict[str, str]:
        """Create the bucket if needed, then run make publish's module against the engine's S3; return the pins."""
        import boto3  # noqa: PLC0415 - the engine's clients, built only once it runs

        s3 = boto3.session.Session().client("s3", **self._client_arguments())
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
        command = [sys.executable, "-m", "churn_local.release.publish", "--bucket", bucket]
        command += ["--artifacts", str(artifacts), "--endpoint-name", ENDPOINT_NAME, "--existing-endpoint"]
        command += ["--config-env", CONFIG_ENV]
        command += ["--state", str(self.deploy_state)]
        self._run(command, "make publish", PUBLISH_TIMEOUT_S)
        return state.load_state(self.deploy_state)[CONFIG_ENV]

    def _client_arguments(self) -> dict[str, Any]:
        client = self.client_environment
        return {
            "endpoint_url": client["AWS_ENDPOINT_URL"],
            "region_name": client["AWS_REGION"],
            "aws_access_key_id": client["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": client["AWS_SECRET_ACCESS_KEY"],
        }

    def client(self, service: str) -> Any:
        """Return a boto3 client of the engine."""
        import boto3  # noqa: PLC0415 - the engine's clients, built only once it runs

        return boto3.session.Session().client(service, **self._client_arguments())  # type: ignore[call-overload]

    def deploy(
        self,
        stack: str,
        build_dir: Path,
        artifacts: Path = DEFAULT_ARTIFACTS,
        parameters: Mapping[str, str] | None = None,
        timeout_s: float = DEPLOY_TIMEOUT_S,
    ) -> outputs.StackInfo:
        """Check the published pins against artifacts/ and the engine's S3 (make deploy's own checks, --dry-run), then
        sam deploy the built template, resolved for the engine, with the samconfig environment's settings."""
        checks = [sys.executable, "-m", "churn_local.release.deploy", "--config-env", CONFIG_ENV, "--dry-run"]
        checks += ["--artifacts", str(artifacts), "--state", str(self.deploy_state), "--samconfig", str(SAMCONFIG)]
        self._run(checks, "make deploy's checks", PUBLISH_TIMEOUT_S)
        values = {
            **state.samconfig_overrides(SAMCONFIG, CONFIG_ENV),
            **state.load_state(self.deploy_state)[CONFIG_ENV],
            **(parameters or {}),
        }
        where = Deployment(LOCAL_REGION, engine.ACCOUNT_ID, stack)
        template = write_for_engine(build_dir / "template.yaml", values, where)
        command = [str(Path(sys.executable).with_name("sam")), "deploy", "--config-file", str(SAMCONFIG)]
        command += ["--config-env", CONFIG_ENV, "--template-file", str(template), "--stack-name", stack]
        command += ["--no-confirm-changeset", "--no-fail-on-empty-changeset", "--region", LOCAL_REGION]
        command += ["--parameter-overrides", state.overrides_text(values)]
        assert self.record is not None  # noqa: S101 - narrows the type: client_environment checked it
        if stack not in self.record.stacks:
            self.record.stacks.append(stack)
            self._save()
        self._run(command, f"sam deploy of {stack}", timeout_s)
        return outputs.describe(self.client("cloudformation"), stack)

    def delete(self, stack: str, timeout_s: float = DEPLOY_TIMEOUT_S) -> None:
        """Run `sam delete` of the stack against the engine."""
        command = [str(Path(sys.executable).with_name("sam")), "delete", "--stack-name", stack, "--no-prompts"]
        command += ["--region", LOCAL_REGION]
        self._run(command, f"sam delete of {stack}", timeout_s)
        if self.record is not None and stack in self.record.stacks:
            self.record.stacks.remove(stack)
            self._save()

    def _run(self, command: Sequence[str], what: str, timeout_s: float) -> None:
        log = self.state_dir / "commands.log"
        with log.open("a", encoding="utf-8") as out:
            out.write(f"\n$ {' '.join(command)}\n")
            out.flush()
            process = subprocess.Popen(
                list(command),
                env=self.environment(),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=PROJECT_ROOT,
                start_new_session=True,
            )
            try:
                code = process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise EmulatorError(
                    f"{what} did not finish within {timeout_s:g} s and was killed: see {log} and {self.engine_log}"
                ) from None
        if code != 0:
            raise EmulatorError(f"{what} failed ({code}):\n{_tail(log)}")


def _tail(path: Path, lines: int = 25) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
