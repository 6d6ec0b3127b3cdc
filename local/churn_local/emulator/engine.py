"""MiniStack, the AWS emulator the stack is deployed into: its settings, its process, and how clients reach it.

MiniStack (PyPI `ministack`, MIT) runs on the host from its own venv (.venv-ministack, `make ministack`, pinned by
requirements-ministack.txt and constraints-ministack.txt): its botocore pin differs from the project's. It is
served by hypercorn on two addresses only, loopback and the project daemon's bridge address, where the function
containers call it back (`BIND_HOST` takes one address and defaults to 0.0.0.0). Every setting it reads that
matters here is in SETTINGS, with the reason; `python -m churn_local.emulator.deploy settings` prints them.
MiniStack has no telemetry and no update check (none in its source); what could reach out is turned off or
pointed at this machine: the IoT and SFTP listeners are off, Lambda runs in the image built here (never pulled:
churn_local.emulator.image), and the functions' SageMaker calls go to the project's local endpoint.
"""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churn_local.constants import LOCAL_REGION, PROJECT_ROOT
from churn_local.containers.dockerd import docker_cli

ENGINE_VENV = PROJECT_ROOT / ".venv-ministack"
# hypercorn serves MiniStack's ASGI app; this argument identifies the process in /proc (containers.processes).
APP = "ministack.app:app"
DEFAULT_PORT = 4566
# Function containers the engine may run at once (MiniStack throttles past it, as Lambda's account concurrency does):
# uncapped, the bulk map started about a hundred on two CPUs.
DEFAULT_CONCURRENCY = 4
START_TIMEOUT_S = 60.0
# The engine's account (MiniStack's default): ARNs, the function's bucket owner check.
ACCOUNT_ID = "000000000000"
# What MiniStack reads, and why each is set. Rendered by settings_lines(); the values are in engine_environment().
SETTINGS = {
    "GATEWAY_PORT": "the one HTTP port, served on loopback and the bridge address only (hypercorn --bind twice)",
    "MINISTACK_REGION": "the region the stack is deployed in",
    "LAMBDA_EXECUTOR": "docker: functions run in the project's Lambda image, not as host subprocesses",
    "LAMBDA_STRICT": "1: no silent fallback to running the handler on the host when Docker fails",
    "LAMBDA_ACCOUNT_CONCURRENCY": "function containers at once (throttled past it, like Lambda's account limit)",
    "LAMBDA_DOCKER_FLAGS": "the functions' SageMaker calls go to the local endpoint (the engine has no SageMaker)",
    "IOT_MTLS_ENABLED": "0: no MQTT listener on 8883",
    "SFTP_ENABLED": "0: no Transfer Family SFTP listener",
    "PERSIST_STATE": "0: nothing kept across runs (undeploy stops the engine; a new deploy starts clean)",
    "S3_PERSIST": "0: the engine's S3 lives in memory",
    "AUTH": "false: dummy credentials (the engine checks no signature)",
    "CLOUDTRAIL_RECORDING": "0: no API call recording",
}


@dataclass(frozen=True)
class EngineSettings:
    """Where the engine listens and what its functions reach."""

    port: int
    # Loopback first; then the daemon's bridge address, where the function containers reach the engine.
    hosts: tuple[str, ...]
    # The local SageMaker endpoint, as both this machine and the containers reach it (the bridge address).
    sagemaker_url: str
    concurrency: int = DEFAULT_CONCURRENCY
    region: str = LOCAL_REGION
    venv: Path = ENGINE_VENV

    @property
    def url(self) -> str:
        """Return the engine's URL on loopback: what AWS_ENDPOINT_URL names."""
        return f"http://{self.hosts[0]}:{self.port}"


def engine_environment(settings: EngineSettings) -> dict[str, str]:
    """Return the engine process's whole environment: its settings, and nothing of the caller's AWS setup."""
    flags = [f"AWS_ENDPOINT_URL_{name}={settings.sagemaker_url}" for name in ("SAGEMAKER_RUNTIME", "SAGEMAKER")]
    values = {
        "GATEWAY_PORT": str(settings.port),
        "MINISTACK_REGION": settings.region,
        "LAMBDA_EXECUTOR": "docker",
        "LAMBDA_STRICT": "1",
        "LAMBDA_ACCOUNT_CONCURRENCY": str(settings.concurrency),
        "LAMBDA_DOCKER_FLAGS": " ".join(f"-e {shlex.quote(flag)}" for flag in flags),
        "IOT_MTLS_ENABLED": "0",
        "SFTP_ENABLED": "0",
        "PERSIST_STATE": "0",
        "S3_PERSIST": "0",
        "AUTH": "false",
        "CLOUDTRAIL_RECORDING": "0",
    }
    assert set(values) == set(SETTINGS)  # noqa: S101 - every setting is explained in SETTINGS
    # A minimal environment: no proxy, no AWS profile or endpoint of the caller's reaches the engine.
    return {"PATH": f"{settings.venv / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(Path.home()), **values}


def engine_command(settings: EngineSettings) -> list[str]:
    """Return the command that serves MiniStack on exactly the settings' addresses."""
    binds = [arg for host in settings.hosts for arg in ("--bind", f"{host}:{settings.port}")]
    return [str(settings.venv / "bin" / "hypercorn"), APP, *binds, "--log-level", "INFO", "--keep-alive", "75"]


def settings_lines(settings: EngineSettings) -> list[str]:
    """Return the engine's settings as a person reads them: each value and why."""
    values = engine_environment(settings)
    lines = [f"  {name}={values[name]}\n      {why}" for name, why in SETTINGS.items()]
    lines.append(f"  listening on {', '.join(f'{host}:{settings.port}' for host in settings.hosts)}")
    return lines


def installed_version(venv: Path = ENGINE_VENV) -> str:
    """Return the MiniStack version installed in its venv (from its dist-info), or raise FileNotFoundError."""
    found = sorted(venv.glob("lib/python*/site-packages/ministack-*.dist-info"))
    if not found:
        raise FileNotFoundError(f"MiniStack is not installed in {venv}: run `make ministack`")
    return found[-1].name.removeprefix("ministack-").removesuffix(".dist-info")


def health(url: str, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """Return the engine's own health document (services, version, IoT listener state), or None if it is not up."""
    try:
        with urllib.request.urlopen(f"{url}/_ministack/health", timeout=timeout_s) as answer:  # noqa: S310 - our engine
            document: dict[str, Any] = json.loads(answer.read())
            return document
    except (urllib.error.URLError, OSError, ValueError):
        return None


def wait_ready(url: str, alive: Any, timeout_s: float = START_TIMEOUT_S) -> dict[str, Any]:
    """Wait until the engine answers its health check; `alive()` False means it exited. Return its health."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        document = health(url)
        if document is not None:
            return document
        if not alive():
            raise RuntimeError("the engine exited while starting")
        time.sleep(0.3)
    raise TimeoutError(f"the engine did not answer at {url} within {timeout_s:g} s")


def client_environment(engine_url: str, sagemaker_url: str, region: str = LOCAL_REGION) -> dict[str, str]:
    """Return the standard AWS variables that point SAM CLI, boto3 and the AWS CLI at the engine (and SageMaker at
    the local endpoint): what `make e2e EMULATED=1` and the deploy commands add to the caller's environment."""
    return {
        "AWS_ENDPOINT_URL": engine_url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": sagemaker_url,
        "AWS_ENDPOINT_URL_SAGEMAKER": sagemaker_url,
        # The engine checks no signature; anything non-empty signs.
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
        "SAM_CLI_TELEMETRY": "0",
    }


def without_aws_profile(environment: Mapping[str, str]) -> dict[str, str]:
    """Return an environment without what would send a client to a real account instead (profile, session)."""
    dropped = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
    return {name: value for name, value in environment.items() if name not in dropped}


def instance_label(port: int) -> str:
    """Return the label MiniStack puts on every container it starts (its host name and gateway port)."""
    return f"ministack.instance={socket.gethostname()}:{port}"


def containers_of(port: int) -> list[str]:
    """Return the ids of the containers the engine on this port started, running or not."""
    done = subprocess.run(
        [docker_cli(), "ps", "--all", "--quiet", "--filter", f"label={instance_label(port)}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.stdout.split()


def remove_containers(port: int) -> list[str]:
    """Remove what the engine on this port left (it removes its own containers when it stops cleanly)."""
    left = containers_of(port)
    if left:
        removal = [docker_cli(), "rm", "--force", "--volumes", *left]
        subprocess.run(removal, capture_output=True, timeout=120, check=False)
    return left
