"""The stack's life after its first deploy: `sam deploy` of a new threshold, polled through, then `sam delete`.

Runs last in the suite (pytest takes the files in name order): it changes, then deletes, the default stack the
other files test. Never against a named stack (AWS_SAM_STACK_NAME): the suite changes only stacks it deployed.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.release import outputs
from tests.e2e.conftest import DEFAULT_STACK, OwnStacks
from tests.e2e.targets import Target

NEW_THRESHOLD = "0.02"


@pytest.fixture
def own(own_stacks: OwnStacks | None) -> OwnStacks:
    """Return the stacks this session deployed; skip for a named stack or a URL, saying why."""
    if own_stacks is None:
        pytest.skip("the suite updates and deletes only stacks it deployed itself (no AWS_SAM_STACK_NAME, no URL)")
    return own_stacks


class Poller:
    """POST the reference customer over and over from another thread; record each status and threshold."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.seen: list[tuple[float, int, Any]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopping.is_set():
            status, _, body = self.target.call("/predict", "POST", reference_payload())
            threshold = json.loads(body).get("threshold") if status == 200 else body[:200]
            self.seen.append((time.monotonic(), status, threshold))
            time.sleep(0.2)

    def __enter__(self) -> Poller:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=90)


def test_a_new_threshold_deployed_is_answered_and_no_request_fails_meanwhile(own: OwnStacks, target: Target) -> None:
    # GIVEN a client polling the default stack
    with Poller(target) as poller:
        time.sleep(2)
        # WHEN sam deploy updates it with another threshold
        started = time.monotonic()
        updated = own.deploy(DEFAULT_STACK, {"Threshold": NEW_THRESHOLD})
        finished = time.monotonic()
        time.sleep(2)
    # THEN the stack is updated and every answer after the update carries the new threshold
    assert updated.stack is not None and updated.stack.status == "UPDATE_COMPLETE"
    status, _, body = updated.call("/predict", "POST", reference_payload())
    assert status == 200 and json.loads(body)["threshold"] == float(NEW_THRESHOLD), body
    assert json.loads(body)["churn"] is True  # the reference customer's 0.0357 is above 0.02
    # AND no request failed while it was updating (the count is printed for the docs)
    during = [(status, threshold) for at, status, threshold in poller.seen if started <= at <= finished]
    print(f"\nupdate: {finished - started:.1f} s, {len(during)} requests during it: {sorted(set(during))}")
    assert during and {status for status, _ in during} == {200}
    assert {threshold for _, threshold in during} <= {0.39, float(NEW_THRESHOLD)}


def test_sam_delete_leaves_nothing_behind(own: OwnStacks, target: Target) -> None:
    assert target.stack is not None
    function = target.stack.outputs["ChurnFunctionArn"]
    # WHEN the default stack is deleted
    own.delete(DEFAULT_STACK)
    # THEN the stack, its function and its API are gone
    with pytest.raises(outputs.StackNotFound):
        outputs.describe(target.client("cloudformation"), DEFAULT_STACK)
    lambdas = target.client("lambda")
    with pytest.raises(lambdas.exceptions.ResourceNotFoundException):
        lambdas.get_function(FunctionName=function)
    apis = target.client("apigateway").get_rest_apis()["items"]
    assert target.stack.outputs["ChurnApiId"] not in {api["id"] for api in apis}
    assert target.call("/health")[0] in (403, 404)
