"""Stand-ins for what Lambda's python3.13 runtime gives a function: its variables, its SDK, its environment.

The one home of the Lambda stand-ins that tests and benchmarks share: the context (context.py), the runner
of the build output in a Lambda-like interpreter (runner.py, started through `run_like_lambda`), the
function's variables as the template sets them, the runtime's own variables and SDK, and a free port.
"""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import subprocess
import sys
import sysconfig
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from churn_local.constants import LOCAL_REGION, TEMPLATE
from churn_local.lambda_runtime.context import FUNCTION_NAME

# What the python3.13 runtime puts on sys.path itself (Lambda runtimes page: the AWS SDK for Python), as import
# names. A copy in /var/task would shadow the runtime's.
RUNTIME_IMPORTS = ("boto3", "botocore", "s3transfer", "urllib3", "jmespath", "dateutil", "six.py")
# X-Ray trace header as Lambda passes it to a sampled invocation.
SAMPLED_TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
# The template's parameters that have no default: what a local run deploys with unless told otherwise.
LOCAL_PARAMETERS = {"EndpointName": "churn-xgboost", "TransformBucket": "churn-api-artifacts"}
# Credentials nobody can use, for boto3 clients that must never reach AWS.
UNUSABLE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
RUNNER = Path(__file__).with_name("runner.py")


def handler_environment(template: Path = TEMPLATE, **parameters: str) -> dict[str, str]:
    """Return the API function's variables as the template sets them from these parameters (the rest: defaults).

    Raises template.provider.TemplateError when the template cannot be expanded with them.
    """
    return dict(_template_environment(template, tuple(sorted({**LOCAL_PARAMETERS, **parameters}.items()))))


@functools.cache
def _template_environment(template: Path, parameters: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    from churn_local.template.provider import Application  # noqa: PLC0415 - the SAM expansion, only when asked

    (function,) = Application.from_template(template, dict(parameters), region=LOCAL_REGION).functions.values()
    return tuple((name, value) for name, value in function.environment.items() if value is not None)


def lambda_runtime_environment(task_root: Path, xray_daemon_port: int) -> dict[str, str]:
    """Return the variables Lambda itself sets for a python3.13 function with active tracing, on a sampled call."""
    return {
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_REGION": LOCAL_REGION,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{xray_daemon_port}",
        "_X_AMZN_TRACE_ID": SAMPLED_TRACE_HEADER,
        # /var/task and /opt are read-only on Lambda: nothing may be written next to the modules.
        "PYTHONDONTWRITEBYTECODE": "1",
        "PATH": "/usr/bin:/bin",
    }


def runtime_sdk_packages(folder: Path) -> Path:
    """Stand in for the runtime's own site-packages: only the SDK it ships, linked from this venv; return folder."""
    folder.mkdir(exist_ok=True)
    purelib = Path(sysconfig.get_paths()["purelib"])
    for name in RUNTIME_IMPORTS:
        if not (folder / name).exists():
            (folder / name).symlink_to(purelib / name)
    return folder


def run_like_lambda(
    request: Mapping[str, Any], environment: Mapping[str, str], *flags: str, timeout_s: float = 300
) -> tuple[dict[str, Any], str]:
    """Run runner.py on a request in a fresh `python -S -B`; return its result and its stderr."""
    command = [sys.executable, "-S", "-B", *flags, str(RUNNER), json.dumps(request)]
    result = subprocess.run(
        command, env=dict(environment), capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"the Lambda-like run failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT ")), result.stderr


def runner_paths(task_root: Path, layer: Path, runtime: Path) -> dict[str, str]:
    """Return the request's sys.path entries: /var/task, /opt/python and the runtime's SDK, in Lambda's order."""
    return {"task_root": str(task_root), "layer": str(layer), "runtime": str(runtime)}


def listed_packages(path: Path) -> list[str]:
    """Read a package-per-line file (layer/unused-subpackages.txt), skipping comments and blanks."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@contextlib.contextmanager
def xray_daemon(timeout_s: float | None = None) -> Iterator[socket.socket]:
    """Stand in for the X-Ray daemon Lambda runs at AWS_XRAY_DAEMON_ADDRESS: a UDP socket on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        daemon.settimeout(timeout_s)
        yield daemon


def daemon_port(daemon: socket.socket) -> int:
    """Return the port the X-Ray daemon stand-in listens on."""
    return int(daemon.getsockname()[1])
