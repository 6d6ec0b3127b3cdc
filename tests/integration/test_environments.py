"""`serve --environments 2`: the function in two processes side by side, each one invocation at a time."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from churn_local import faults
from tests.integration.conftest import Stack, assert_clean_stop, predict, serve_command, start_stack
from tests.support import reference_payload

FUNCTION_TIMEOUT_S = 8.0


@pytest.fixture(scope="module")
def two_environments(trained_artifacts: Path) -> Iterator[Stack]:
    """Run a stack whose function has two environment processes and a short timeout."""
    running = start_stack(
        serve_command(trained_artifacts, "--environments", "2", "--function-timeout", str(FUNCTION_TIMEOUT_S))
    )
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


def switch(stack: Stack, fault: str) -> None:
    body = json.dumps({"fault": fault}).encode()
    request = urllib.request.Request(stack.endpoint_url + faults.CONTROL_PATH, data=body, method="PUT")
    urllib.request.urlopen(request, timeout=5).close()


def test_concurrent_requests_are_all_answered_alike_by_two_environment_processes(two_environments: Stack) -> None:
    expected = predict(two_environments, reference_payload())
    assert expected.status == 200, expected.body

    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda _: predict(two_environments, reference_payload()), range(32)))

    assert [reply.status for reply in replies] == [200] * 32
    assert {reply.body for reply in replies} == {expected.body}
    assert len(environment_processes(two_environments)) == 2


def test_a_timed_out_environment_is_replaced_by_a_fresh_process(two_environments: Stack) -> None:
    before = environment_processes(two_environments)
    switch(two_environments, "hang")
    try:
        hung = predict(two_environments, reference_payload())
    finally:
        switch(two_environments, "none")

    assert hung.status == 502, hung.body
    # The next request is served (by the other environment or a fresh one), and two environments run again.
    assert predict(two_environments, reference_payload()).status == 200
    after = before
    deadline = time.monotonic() + 10
    while (after == before or len(after) != 2) and time.monotonic() < deadline:
        time.sleep(0.1)
        after = environment_processes(two_environments)
    assert len(after) == 2
    assert len(after - before) == 1
