"""Run the function in SAM CLI's own emulator: `sam local start-api` against the local stack, in containers.

`python -m churn_local.containers.sam_local` (what `make sam-local` runs after `sam build`) starts the same local
SageMaker endpoint and S3 as `make serve`, with the same published artifacts and pins (churn_local's LocalStack),
on the host's address of the Docker bridge, where containers reach them. It writes a git-ignored `--env-vars` file
pointing the function's boto3 at them, then runs `sam local start-api` on the built template in a Lambda python3.13
image built here (churn_local.containers.lambda_image), never pulling, and prints where to POST.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

from churn_local.constants import DEFAULT_ARTIFACTS, LOCAL_REGION, PROJECT_ROOT
from churn_local.containers import dockerd, lambda_image
from churn_local.services.http_server import free_port
from churn_local.stack.local_stack import LocalStack, StackSettings, StartupError
from churn_local.template import expansion

FUNCTION = "ChurnFunction"
BUILT_TEMPLATE = PROJECT_ROOT / ".aws-sam" / "build" / "template.yaml"
# Beside the built template, whose CodeUri/ContentUri folders it names relatively; `sam build` replaces it.
LOCAL_TEMPLATE = BUILT_TEMPLATE.with_name("template.sam-local.json")
NO_VALUE = {"Ref": "AWS::NoValue"}
# Per user, never tracked (.aws-sam/ is git-ignored); `sam build` replaces only .aws-sam/build.
ENV_VARS_FILE = PROJECT_ROOT / ".aws-sam" / "churn-local" / "env-vars.json"
READY_PREFIX = "churn-api sam local ready:"
# SAM CLI logs the id of every container it creates.
CONTAINER_ID = re.compile(r"SAM_CONTAINER_ID: ([0-9a-f]{12,64})")
# What ready_line() prints, for whoever starts this and waits for it (the tests, the benchmark).
READY_LINE = re.compile(
    re.escape(READY_PREFIX)
    + r" api=(?P<api>\S+) local_api=(?P<local_api>\S+) s3=(?P<s3>\S+) endpoint=(?P<endpoint>\S+)"
    r" template=(?P<template>\S+) env_vars=(?P<env_vars>\S+) image=(?P<image>\S+)"
)
# sam local start-api answers once its warm container is up: the image's layer copy, then the function's init.
START_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class SamLocalSettings:
    """Where the API listens and what it serves."""

    port: int = 0
    artifacts: Path = DEFAULT_ARTIFACTS
    built_template: Path = BUILT_TEMPLATE
    template: Path = LOCAL_TEMPLATE
    env_vars_file: Path = ENV_VARS_FILE
    # EAGER: the container starts (and the function initialises) before the first request, as provisioned.
    warm_containers: str = "EAGER"


def function_environment(stack: LocalStack) -> dict[str, dict[str, str]]:
    """Return the --env-vars document: the function's boto3 pointed at the local stack's S3 and SageMaker."""
    return {
        FUNCTION: {
            "AWS_ENDPOINT_URL_S3": stack.s3_url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": stack.runtime_url or stack.endpoint_url,
            "AWS_ENDPOINT_URL_SAGEMAKER": stack.endpoint_url,
        }
    }


def local_template(built: Path, parameters: Mapping[str, str], out: Path = LOCAL_TEMPLATE) -> Path:
    """Write the built template as AWS::LanguageExtensions leaves it for these parameters, for SAM CLI to read.

    SAM CLI's own intrinsic resolver fails on an Fn::If whose branch is AWS::NoValue ("Missing Intrinsic property in
    Fn::If"), and `sam local start-api` then crashes reading the API's Auth (the Cognito authorizer's `!If`).
    CloudFormation resolves those before the SAM transform (AWS::LanguageExtensions): so does this, with the same
    offline resolver as `make serve`. Variables the template declares as AWS::NoValue (unset once deployed) stay
    declared, empty, so that `--env-vars` can set them: SAM CLI sets only declared variables (aws/aws-sam-cli#139).
    """
    source = expansion.load_template(built)
    resolved = expansion.apply_language_extensions(source, expansion.parameter_values(source, parameters))
    for name, resource in source.get("Resources", {}).items():
        variables = ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
        unset = {key: "" for key, value in variables.items() if value == NO_VALUE}
        if unset:
            properties = resolved["Resources"][name]["Properties"]
            properties.setdefault("Environment", {}).setdefault("Variables", {}).update(unset)
    out.write_text(json.dumps(resolved, indent=1) + "\n", encoding="utf-8")
    return out


def write_env_vars(path: Path, document: Mapping[str, Mapping[str, str]]) -> Path:
    """Write the --env-vars file (git-ignored) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def sam_environment() -> dict[str, str]:
    """Return SAM CLI's own environment: no telemetry, dummy credentials, the local region, no AWS profile."""
    environment = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")}
    environment.update(
        {
            "SAM_CLI_TELEMETRY": "0",
            # SAM CLI hands these to the container as the function's credentials; the local services ignore them.
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_SESSION_TOKEN": "local",
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_REGION": LOCAL_REGION,
        }
    )
    return environment


def sam_command(verb: str, settings: SamLocalSettings, parameters: Mapping[str, str], image: str) -> list[str]:
    """Return the `sam local <verb>` arguments common to invoke and start-api: local image, no pull, local region."""
    overrides = [f"{name}={value}" for name, value in sorted(parameters.items())]
    return [
        str(Path(sys.executable).with_name("sam")),
        "local",
        verb,
        "--template",
        str(settings.template),
        "--env-vars",
        str(settings.env_vars_file),
        "--parameter-overrides",
        *overrides,
        "--invoke-image",
        image,
        "--skip-pull-image",
        "--region",
        LOCAL_REGION,
        "--container-host",
        "127.0.0.1",
        "--container-host-interface",
        "127.0.0.1",
    ]


class SamLocal:
    """The local stack on the Docker bridge, and `sam local start-api` in front of it; stopped in reverse."""

    def __init__(self, settings: SamLocalSettings, say: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.say = say
        self.stack: LocalStack | None = None
        self.process: subprocess.Popen[str] | None = None
        self.api_url = ""
        self.image = ""
        self.containers: list[str] = []

    def prepare(self) -> LocalStack:
        """Start dockerd, build the image if needed, start the local stack and write the --env-vars file."""
        started = dockerd.ensure_running()
        if started == "started":
            self.say("dockerd started (no NAT, no forwarding: containers reach this machine only)")
        gateway = dockerd.bridge_gateway()
        self.image = lambda_image.ensure_image(self.say)
        settings = StackSettings(
            artifacts=self.settings.artifacts, host=gateway, api_port=0, endpoint_port=0, s3_port=0
        )
        self.stack = LocalStack(settings, self.say)
        self.stack.start()
        write_env_vars(self.settings.env_vars_file, function_environment(self.stack))
        local_template(self.settings.built_template, self.stack.overrides, self.settings.template)
        return self.stack

    def start(self) -> str:
        """Prepare, then start `sam local start-api` and wait until it answers; return its URL."""
        stack = self.prepare()
        # SAM CLI's start-api does not report a port 0 choice: a port free now.
        port = self.settings.port or free_port()
        command = sam_command("start-api", self.settings, stack.overrides, self.image)
        command += ["--host", "127.0.0.1", "--port", str(port), "--warm-containers", self.settings.warm_containers]
        self.process = subprocess.Popen(
            command,
            env=sam_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=PROJECT_ROOT,
        )
        threading.Thread(target=self._relay, args=(self.process.stdout,), daemon=True).start()
        self.api_url = f"http://127.0.0.1:{port}"
        self._wait_until_answering()
        return self.api_url

    def _relay(self, stream: IO[str]) -> None:
        # SAM CLI's output goes on to the user; the ids of the containers it starts are noted for the cleanup.
        for line in stream:
            self.say(line.rstrip("\n"))
            match = CONTAINER_ID.search(line)
            if match:
                self.containers.append(match[1])

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None  # noqa: S101 - narrows the type: started before waiting
            if self.process.poll() is not None:
                raise StartupError(f"sam local start-api exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=30) as answer:  # noqa: S310 - http://127.0.0.1 only
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        raise StartupError(f"sam local start-api did not answer within {START_TIMEOUT_S:g} s")

    def stop(self) -> None:
        """Stop SAM CLI (it removes its warm containers on Ctrl-C), remove any container it left, stop the stack."""
        if self.process is not None:
            for ask, wait_s in ((signal.SIGINT, 30.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
                if self.process.poll() is not None:
                    break
                self.process.send_signal(ask)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=wait_s)
            if self.process.stdout is not None:
                self.process.stdout.close()
        if self.containers:
            # Only the containers this SAM CLI started; none is left when it stopped cleanly.
            subprocess.run([dockerd.docker_cli(), "rm", "--force", *self.containers], capture_output=True, check=False)
        if self.stack is not None:
            self.stack.stop()
        if self.image:
            lambda_image.prune_superseded()


def invoke_command(sam: SamLocal, event: str) -> str:
    """Return the `sam local invoke` a person runs beside start-api, on the same template, variables and image."""
    return (
        f".venv/bin/sam local invoke {FUNCTION} -t {_shown(sam.settings.template)}"
        f" --env-vars {_shown(sam.settings.env_vars_file)} --invoke-image {sam.image} --skip-pull-image -e {event}"
    )


def _shown(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def ready_line(sam: SamLocal) -> str:
    """Return the line that says start-api answers, with every URL and file."""
    assert sam.stack is not None  # noqa: S101 - narrows the type: called once started
    return (
        f"{READY_PREFIX} api={sam.api_url} local_api={sam.stack.api_url} s3={sam.stack.s3_url}"
        f" endpoint={sam.stack.endpoint_url} template={sam.settings.template}"
        f" env_vars={sam.settings.env_vars_file} image={sam.image}"
    )


def banner(sam: SamLocal) -> list[str]:
    """Return where to POST, and what runs behind it."""
    assert sam.stack is not None  # noqa: S101 - narrows the type: called once started
    reference = json.loads((PROJECT_ROOT / "events" / "direct-reference.json").read_text(encoding="utf-8"))
    body = json.dumps(reference).replace("'", "\\u0027")
    return [
        "",
        "  API (sam local start-api, the function in a container)",
        f"    POST  {sam.api_url}/predict",
        f"    POST  {sam.api_url}/predict/batch",
        f"    GET   {sam.api_url}/health",
        "",
        f"  Lambda image             {sam.image} (built here; never pulled)",
        f"  SageMaker endpoint       {sam.stack.endpoint_url}/endpoints/{sam.stack.settings.endpoint_name}/invocations",
        f"  S3 (moto)                {sam.stack.s3_url}  s3://{sam.stack.settings.bucket}/"
        f"{sam.stack.overrides['TransformKey']}",
        f"  --env-vars               {sam.settings.env_vars_file}",
        "",
        "  Try it with the reference customer:",
        "",
        f"    curl -s -X POST {sam.api_url}/predict -H 'Content-Type: application/json' -d '{body}'",
        "",
        "  Any event of events/ through sam local invoke, in another shell (the --env-vars file points at this stack):",
        "",
        f"    {invoke_command(sam, 'events/direct-reference.json')}",
        "",
        "  Ctrl-C stops everything.",
        "",
    ]


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Start everything, print where to POST, and serve until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m churn_local.containers.sam_local", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--port", type=int, default=0, help="sam local start-api's port (default: a free one)")
    parser.add_argument("--artifacts", type=Path, default=DEFAULT_ARTIFACTS, help="trained artifacts")
    parser.add_argument("--warm-containers", choices=("EAGER", "LAZY"), default="EAGER")
    parser.add_argument("--build-dir", type=Path, default=BUILT_TEMPLATE.parent, help="sam build's output folder")
    parser.add_argument("--env-vars", type=Path, default=ENV_VARS_FILE, help="the --env-vars file to write")
    args = parser.parse_args(argv)
    build_dir = args.build_dir.resolve()
    settings = SamLocalSettings(
        port=args.port,
        artifacts=args.artifacts.resolve(),
        built_template=build_dir / BUILT_TEMPLATE.name,
        template=build_dir / LOCAL_TEMPLATE.name,
        env_vars_file=args.env_vars.resolve(),
        warm_containers=args.warm_containers,
    )
    if not settings.built_template.is_file():
        print(f"error: {settings.built_template} is missing: run sam build (make sam-local does)", file=sys.stderr)
        return 1

    def say(text: str) -> None:
        print(text, flush=True)

    # Ctrl-C and SIGTERM stop everything alike, even when started with SIGINT ignored (a background job).
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    sam = SamLocal(settings, say)
    try:
        sam.start()
        for line in banner(sam):
            say(line)
        say(ready_line(sam))
        while sam.process is not None and sam.process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except (StartupError, dockerd.DockerUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sam.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
