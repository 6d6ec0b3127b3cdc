"""What the end-to-end tests talk to: a deployed stack (read through CloudFormation) or a base URL, and the oracle.

A target is chosen the way SAM's own project templates choose one: `AWS_SAM_STACK_NAME` with the usual AWS
variables (the API's URL from the stack's outputs), or `CHURN_E2E_URL` for `make serve` and `make sam-local`.
With neither, the suite deploys its own stacks into the emulator (tests/e2e/conftest.py). Nothing here knows which
AWS it talks to; where an engine is known to differ from AWS, `known_difference` marks that case for that engine
alone (CHURN_E2E_ENGINE names it), with the evidence.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from churn_local.constants import PROJECT_ROOT
from churn_local.release.outputs import StackInfo

# Where an engine answers otherwise than API Gateway, Lambda or Step Functions: the engine's name (as
# CHURN_E2E_ENGINE starts), then what differs and the evidence. The case still runs there, as a strict xfail:
# when the engine learns it, the case passes, the xfail fails, and the entry goes.
KNOWN_DIFFERENCES: dict[str, dict[str, str]] = {
    "cors-preflight": {
        "ministack": "MiniStack 1.5.33 answers the preflight of the stack SAM deployed (a MOCK integration in the "
        "API's OpenAPI body) with 200 and `{}` but none of the Access-Control-* headers its integration response "
        "maps: observed on every emulated deploy, and in ../shared/notes/deploy-emulator-probe.md",
    },
    "bulk-batches": {
        "ministack": "MiniStack 1.5.33's Distributed Map runs every item as its own child and ignores ItemBatcher "
        "and MaxConcurrencyPath (ministackorg/ministack: ministack/services/stepfunctions.py, "
        "_run_distributed_map), so the batch function gets single rows instead of batches of 250: the run ends FAILED, "
        "States.ExceedToleratedFailureThreshold (observed)",
    },
}


@dataclass
class Target:
    """One API under test, and what is known about the stack behind it."""

    url: str
    stack: StackInfo | None = None
    # The AWS the stack lives in: the standard variables (endpoints, credentials, region) for clients and make score.
    aws: Mapping[str, str] = field(default_factory=dict)
    engine: str = ""
    # Headers every call needs (an API key, an ID token).
    headers: dict[str, str] = field(default_factory=dict)

    def call(
        self, path: str, method: str = "GET", body: Any = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request; return status, headers and body whatever the status."""
        return call(f"{self.url}{path}", method, body, {**self.headers, **(headers or {})})

    def client(self, service: str) -> Any:
        """Return a boto3 client of the stack's AWS."""
        import boto3  # noqa: PLC0415 - only stack targets need one

        environment = {**os.environ, **self.aws}
        arguments: dict[str, Any] = {
            "region_name": environment.get("AWS_REGION") or environment.get("AWS_DEFAULT_REGION")
        }
        if "AWS_ENDPOINT_URL" in self.aws:
            arguments.update(
                endpoint_url=self.aws["AWS_ENDPOINT_URL"],
                aws_access_key_id=self.aws["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=self.aws["AWS_SECRET_ACCESS_KEY"],
            )
        return boto3.session.Session().client(service, **arguments)

    def parameter(self, name: str) -> str:
        """Return a template parameter the stack was deployed with ('' for a URL target)."""
        return self.stack.parameters.get(name, "") if self.stack else ""

    def cut_off(self) -> str:
        """Return the threshold the stack answers with: its Threshold override, else the published ModelThreshold."""
        return self.parameter("Threshold") or self.parameter("ModelThreshold")


def call(
    url: str, method: str = "GET", body: Any = None, headers: Mapping[str, str] | None = None, timeout_s: float = 60
) -> tuple[int, dict[str, str], bytes]:
    """Send one request; return status, headers and body, whatever the status."""
    data = None if body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url, data=data, method=method, headers={**sent, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def known_difference(request: pytest.FixtureRequest, target: Target, case: str) -> None:
    """Mark this case a strict xfail when the target's engine is known to differ from AWS here; else nothing."""
    for engine, evidence in KNOWN_DIFFERENCES[case].items():
        if target.engine.startswith(engine):
            request.applymarker(pytest.mark.xfail(strict=True, reason=f"known difference of {engine}: {evidence}"))


def function_variables(target: Target) -> dict[str, str]:
    """Return the deployed ChurnFunction's own environment variables, as Lambda reports them."""
    assert target.stack is not None
    configuration = target.client("lambda").get_function_configuration(
        FunctionName=target.stack.outputs["ChurnFunctionArn"]
    )
    return {name: str(value) for name, value in configuration["Environment"]["Variables"].items()}


def make_score(target: Target, rows: Sequence[Mapping[str, str]], folder: Path) -> list[dict[str, Any]]:
    """Score rows as `make score FROM_ENV=1` does with the deployed function's variables; return its JSON Lines."""
    source, scored = folder / "customers.jsonl", folder / "scored.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    command = [sys.executable, "-m", "churn_local.bulk.score", str(source), str(scored), "--from-environment"]
    environment = {**os.environ, **target.aws, **function_variables(target)}
    done = subprocess.run(
        command, env=environment, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"make score FROM_ENV=1 failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return [json.loads(line) for line in scored.read_text(encoding="utf-8").splitlines()]


def poll(until: Callable[[], bool], timeout_s: float, every_s: float = 1.0) -> bool:
    """Call until() every every_s seconds until it is true or timeout_s passed; return its last answer."""
    import time  # noqa: PLC0415 - only the waiting cases

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if until():
            return True
        time.sleep(every_s)
    return until()
