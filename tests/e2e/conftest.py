"""The end-to-end suite's target: one per run, chosen as SAM users expect (tests/e2e/targets.py).

- `CHURN_E2E_URL`: a running API (`make serve`, `make sam-local`); cases that need a stack skip, saying so.
- `AWS_SAM_STACK_NAME` with the usual AWS variables: that stack, read through CloudFormation, never changed (the
  options it was deployed with are exercised; the others skip naming the parameter; update and delete skip).
- neither (`make test`, CI): the suite starts the emulator (churn_local.emulator), publishes the session's trained
  artifacts into it with `make publish`'s module and deploys its own stacks with `sam deploy`: the default
  configuration and one stack per option, then updates and deletes the default one. Skipped, with the reason,
  only where no container runtime can start; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from churn_local.containers import dockerd
from churn_local.emulator import engine
from churn_local.emulator.deploy import engine_name
from churn_local.emulator.emulated import Emulated
from churn_local.release import outputs
from churn_local.services.http_server import free_port
from tests.e2e.targets import Target

DEFAULT_STACK = "e2e-default"
# What this run deployed and deleted, with the times: printed at the end of the run (CI's log shows it).
DEPLOYS: list[str] = []
# Function containers the engine may run at once in the tests (each holds scikit-learn: about 200 MB).
TEST_CONCURRENCY = 3


class OwnStacks:
    """The emulator, and the stacks this session deployed into it."""

    def __init__(self, emulated: Emulated, build_dir: Path, artifacts: Path) -> None:
        self.emulated = emulated
        self.build_dir = build_dir
        self.artifacts = artifacts
        self.engine = engine_name()

    def target(self, stack: outputs.StackInfo) -> Target:
        """Return the target of a stack deployed here."""
        aws = self.emulated.client_environment
        return Target(stack.api_url(aws["AWS_ENDPOINT_URL"]), stack, aws, self.engine)

    def deploy(self, name: str, parameters: Mapping[str, str] | None = None, artifacts: Path | None = None) -> Target:
        """Run `sam deploy` of the session's build as stack `name` with these parameters and the pins published last
        (of `artifacts`, the session's unless given); return its target."""
        started = time.perf_counter()
        stack = self.emulated.deploy(name, self.build_dir, artifacts or self.artifacts, parameters)
        took = time.perf_counter() - started
        DEPLOYS.append(f"sam deploy {name} {dict(parameters or {})} into {self.engine}: {stack.status} in {took:.1f} s")
        assert stack.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack.status
        return self.target(stack)

    def delete(self, name: str) -> None:
        """Run `sam delete` of the stack."""
        started = time.perf_counter()
        self.emulated.delete(name)
        DEPLOYS.append(f"sam delete {name}: done in {time.perf_counter() - started:.1f} s")


def _require_container_runtime() -> None:
    try:
        dockerd.ensure_running()
        dockerd.bridge_gateway()
    except dockerd.DockerUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the end-to-end tests, but no container runtime starts: {exc}")
        pytest.skip(f"no container runtime can start here: {exc}")


# Package scope: the engine, the endpoint and their containers stop after the last end-to-end test, not at the end
# of the whole session.
@pytest.fixture(scope="package")
def own_stacks(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[OwnStacks | None]:
    """Start the emulator for this session unless the run names a target; stop it, by pid, at the end."""
    if os.environ.get("CHURN_E2E_URL") or os.environ.get("AWS_SAM_STACK_NAME"):
        yield None
        return
    _require_container_runtime()
    # Only here: a run against a named target trains nothing and builds nothing.
    trained_artifacts: Path = request.getfixturevalue("trained_artifacts")
    sam_build: Path = request.getfixturevalue("sam_build")
    if not (engine.ENGINE_VENV / "bin" / "hypercorn").exists():
        pytest.fail(f"{engine.ENGINE_VENV} is missing: run `make ministack` (make test does)")
    emulated = Emulated(tmp_path_factory.mktemp("emulated"), say=lambda text: None)
    try:
        emulated.start(port=free_port(), artifacts=trained_artifacts, concurrency=TEST_CONCURRENCY)
        emulated.publish(trained_artifacts)
        yield OwnStacks(emulated, sam_build, trained_artifacts)
    finally:
        emulated.stop()


@pytest.fixture(scope="package")
def target(own_stacks: OwnStacks | None) -> Target:
    """Return the run's main target: the URL, the named stack, or the default configuration deployed here."""
    url = os.environ.get("CHURN_E2E_URL")
    if url:
        return Target(url.rstrip("/"), engine=os.environ.get("CHURN_E2E_ENGINE", ""))
    if own_stacks is None:
        given = Target("", engine=os.environ.get("CHURN_E2E_ENGINE", ""))
        stack = outputs.describe(given.client("cloudformation"), os.environ["AWS_SAM_STACK_NAME"])
        given.stack, given.url = stack, stack.api_url(os.environ.get("AWS_ENDPOINT_URL"))
        return given
    return own_stacks.deploy(DEFAULT_STACK)


OptionTarget = Callable[[str, Mapping[str, str]], Target]


@pytest.fixture(scope="module")
def option_target(
    own_stacks: OwnStacks | None, target: Target, request: pytest.FixtureRequest
) -> Iterator[OptionTarget]:
    """Return a function giving the target deployed with these options: deployed here (and deleted after the
    module), or the named stack when it was deployed with them; otherwise the case skips, naming what is missing."""
    deployed: list[str] = []

    def with_options(name: str, parameters: Mapping[str, str]) -> Target:
        if own_stacks is not None:
            deployed.append(name)
            return own_stacks.deploy(name, parameters)
        if target.stack is None:
            pytest.skip("a base URL (CHURN_E2E_URL) names no stack: its deploy options cannot be read")
        missing = {key: value for key, value in parameters.items() if target.parameter(key) != value}
        if missing:
            pytest.skip(f"stack {target.stack.name} was not deployed with {missing}")
        return target

    yield with_options
    for name in deployed:
        assert own_stacks is not None
        own_stacks.delete(name)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List what the suite deployed into the emulator, and how long each took."""
    if DEPLOYS:
        terminalreporter.section("end-to-end: emulated deploys")
        for line in DEPLOYS:
            terminalreporter.write_line(line)
