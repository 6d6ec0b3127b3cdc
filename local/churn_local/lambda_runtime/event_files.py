"""The events/ files, as `sam local invoke -e` reads them, and API Gateway events made from them."""

from __future__ import annotations

import json
import uuid
from typing import Any

from churn_local.constants import PROJECT_ROOT

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
