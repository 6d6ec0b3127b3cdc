"""The local services' fault switches, and what a client must get when something behind the function fails."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from churn_api.errors import ApiError
from churn_local.services import faults
from tests.integration.conftest import Reply, Stack

# Never in a client's answer, whatever failed (the stack's own names are added by internal_names).
ALWAYS_INTERNAL = ("s3://", "Traceback", "botocore", "pickle")
# How long the function's log line of a failure may take to come through the stack's stdout pipe.
LOG_WAIT_S = 5.0


def switch(url: str, fault: str, delay_s: float = 0.0) -> dict[str, Any]:
    """Switch a service's fault through its control route; return the service's new state."""
    body = json.dumps({"fault": fault, "delay_s": delay_s}).encode()
    request = urllib.request.Request(url + faults.CONTROL_PATH, data=body, method="PUT")
    with urllib.request.urlopen(request, timeout=5) as response:
        state: dict[str, Any] = json.loads(response.read())
    return state


def calls(url: str) -> int:
    """Return how many calls the service counted since the last switch (or since it started)."""
    with urllib.request.urlopen(url + faults.CONTROL_PATH, timeout=5) as response:
        count: int = json.loads(response.read())["calls"]
    return count


def timed(request: Callable[[], Reply]) -> tuple[Reply, float]:
    """Send one request; return the answer and the seconds it took, as the client saw them."""
    started = time.monotonic()
    reply = request()
    return reply, time.monotonic() - started


def internal_names(stack: Stack) -> list[str]:
    """Return the names the stack's banner shows that a client must never see: endpoint, bucket and key."""
    banner = "".join(stack.stdout)
    endpoint = re.search(r"/endpoints/([^/\s]+)/invocations", banner)
    location = re.search(r"s3://([^/\s]+)/(\S+)", banner)
    assert endpoint and location, stack.output()
    return [endpoint[1], location[1], location[2]]


def fault_answer(reply: Reply, error: type[ApiError], internal: Iterable[str] = ()) -> int | None:
    """Check the answer is exactly the error's status, code, message and request id, naming the model the request
    reached as the X-Model-Version header does; return its Retry-After."""
    assert reply.status == error.status, reply.body
    request_id = reply.headers["x-amzn-RequestId"]
    body = reply.json()
    assert body["error"] == {"code": error.code, "message": error.default_message, "requestId": request_id}
    assert set(body) == {"error", "model"} and body["model"]["version"] == reply.headers["X-Model-Version"]
    text = reply.body.decode()
    for name in (*ALWAYS_INTERNAL, *internal):
        assert name not in text
    retry_after = reply.headers.get("Retry-After")
    return None if retry_after is None else int(retry_after)


def logged_failure(stack: Stack, reply: Reply) -> dict[str, Any]:
    """Return the function's log entry of the failed request (Powertools logs the request id as correlation_id)."""
    request_id = reply.headers["x-amzn-RequestId"]
    deadline = time.monotonic() + LOG_WAIT_S
    while time.monotonic() < deadline:
        for line in list(stack.stdout):
            if request_id in line and line.startswith("{"):
                entry: dict[str, Any] = json.loads(line)
                if entry.get("correlation_id") == request_id and entry.get("message") == "request failed":
                    return entry
        time.sleep(0.05)
    raise AssertionError(f"no 'request failed' log entry for {request_id}:\n{stack.output()}")
