"""`serve --environments 2`: the function in two processes side by side, each one invocation at a time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from churn_local.constants import INTEGRATION_TIMEOUT_S, LOCAL_REGION
from churn_local.lambda_runtime.environments import ProcessContainers
from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.lambda_runtime.invoke import Outcome
from churn_local.template.provider import FunctionSpec
from tests.integration.conftest import Stack, assert_clean_stop, predict, serve_command, start_stack


@pytest.fixture(scope="module")
def two_environments(trained_artifacts: Path) -> Iterator[Stack]:
    """Run a stack whose function has two environment processes."""
    running = start_stack(serve_command(trained_artifacts, "--environments", "2"))
    yield running
    assert_clean_stop(running)


def environment_processes(stack: Stack) -> set[int]:
    """Return the ids of the stack's environment processes (its children started by multiprocessing's spawn)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == stack.process.pid and b"spawn_main" in command:
            found.add(int(stat.parent.name))
    return found


def test_concurrent_requests_are_all_answered_alike_by_two_environment_processes(two_environments: Stack) -> None:
    expected = predict(two_environments, reference_payload())
    assert expected.status == 200, expected.body

    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda _: predict(two_environments, reference_payload()), range(32)))

    assert [reply.status for reply in replies] == [200] * 32
    assert {reply.body for reply in replies} == {expected.body}
    assert len(environment_processes(two_environments)) == 2


SLOW_FUNCTION = """
import os, time


def handler(event, context):
    if "pid_file" in event:
        with open(event["pid_file"], "w") as out:
            out.write(str(os.getpid()))
    time.sleep(event.get("sleep_s", 0))
    return {"pid": os.getpid()}
"""


@pytest.fixture
def slow_function(tmp_path: Path) -> Iterator[ProcessContainers]:
    """Two environments of a function that sleeps as long as it is told: ours always answers within its Timeout."""
    (tmp_path / "slow.py").write_text(SLOW_FUNCTION, encoding="utf-8")
    spec = FunctionSpec("SlowFunction", tmp_path, "slow.handler", timeout_s=1.0, memory_mb=128)
    containers = ProcessContainers(spec, {}, 2, region=LOCAL_REGION, integration_timeout_s=INTEGRATION_TIMEOUT_S)
    yield containers
    containers.close()


def test_a_timed_out_environment_is_replaced_by_a_fresh_process(
    slow_function: ProcessContainers, tmp_path: Path
) -> None:
    pid_file = tmp_path / "hung.pid"

    hung = slow_function.invoke({"sleep_s": 30, "pid_file": str(pid_file)}, "hangs")

    assert hung.outcome is Outcome.FUNCTION_TIMED_OUT
    # Lambda throws the environment away: its process ends, a third one starts, and two environments serve again.
    hung_pid = int(pid_file.read_text())
    deadline = time.monotonic() + 30
    while Path(f"/proc/{hung_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{hung_pid}").exists()
    served_by: set[int] = set()
    with ThreadPoolExecutor(max_workers=2) as pool:
        while len(served_by) < 2 and time.monotonic() < deadline:
            answers = list(pool.map(lambda i: slow_function.invoke({"sleep_s": 0.2}, f"after-{i}"), range(2)))
            assert [a.outcome for a in answers] == [Outcome.RETURNED] * 2
            served_by = {a.output["pid"] for a in answers}
    assert hung_pid not in served_by and len(served_by) == 2
    assert slow_function.environments_started == 3
