"""Helpers shared by every test layer: the events/ files and a Lambda context."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EVENTS_DIR = PROJECT_ROOT / "events"


def load_event(name: str) -> Any:
    """Load `events/<name>.json`, the same files `sam local invoke -e` uses."""
    return json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def reference_payload() -> dict[str, str]:
    """Return the reference customer, exactly as the reference function receives it."""
    payload: dict[str, str] = load_event("direct-reference")
    return payload


def api_event(
    body: Any, *, headers: dict[str, str] | None = None, method: str = "POST", path: str = "/predict"
) -> dict[str, Any]:
    """Return the API Gateway proxy event from events/ with another body (a dict is JSON-encoded), method, path."""
    event: dict[str, Any] = load_event("api-predict")
    event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    event.update(httpMethod=method, path=path, resource=path)
    event["requestContext"].update(httpMethod=method, resourcePath=path, path=f"/Prod{path}")
    if headers:
        event["headers"] = {**event["headers"], **headers}
        event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    return event


def template_threshold() -> str:
    """Return the Threshold parameter's default from template.yaml, the one place the default threshold lives."""
    from churn_local.sam_expansion import default_threshold  # SAM CLI's YAML loader: only for tests that need it

    return str(default_threshold())


@dataclass
class FakeLambdaContext:
    """The attributes of the Lambda context object that Powertools reads; its remaining time counts down."""

    function_name: str = "churn-api-ChurnFunction"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:churn-api-ChurnFunction"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: int = 20_000
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        """Return what is left of `remaining_ms` since the invocation started."""
        return max(0, self.remaining_ms - int((time.monotonic() - self.started) * 1000))
