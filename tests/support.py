"""Helpers shared by every test layer: the events/ files and a Lambda context."""

from __future__ import annotations

import contextlib
import json
import logging
import sysconfig
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EVENTS_DIR = PROJECT_ROOT / "events"
# What the python3.13 runtime puts on sys.path itself (Lambda runtimes page: the AWS SDK for Python), as import
# names. A copy in /var/task would shadow the runtime's.
RUNTIME_IMPORTS = ("boto3", "botocore", "s3transfer", "urllib3", "jmespath", "dateutil", "six.py")
# X-Ray trace header as Lambda passes it to a sampled invocation.
SAMPLED_TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


@contextlib.contextmanager
def s3_server_holding(bucket: str, key: str, body: bytes) -> Iterator[str]:
    """Serve S3 over HTTP on a free loopback port (moto's server) holding one object; yield the server's URL."""
    import boto3  # noqa: PLC0415 - here, not at import: most users of this module need neither
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")  # fmt: skip
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        yield url
    finally:
        server.stop()


def runtime_sdk_packages(folder: Path) -> Path:
    """Stand in for the runtime's own site-packages: only the SDK it ships, linked from this venv; return folder."""
    folder.mkdir(exist_ok=True)
    purelib = Path(sysconfig.get_paths()["purelib"])
    for name in RUNTIME_IMPORTS:
        if not (folder / name).exists():
            (folder / name).symlink_to(purelib / name)
    return folder


def lambda_runtime_environment(task_root: Path, xray_daemon_port: int) -> dict[str, str]:
    """Return the variables Lambda itself sets for a python3.13 function with active tracing, on a sampled call."""
    return {
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": "churn-api-ChurnFunction",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{xray_daemon_port}",
        "_X_AMZN_TRACE_ID": SAMPLED_TRACE_HEADER,
        # /var/task and /opt are read-only on Lambda: nothing may be written next to the modules.
        "PYTHONDONTWRITEBYTECODE": "1",
        "PATH": "/usr/bin:/bin",
    }


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
    # SAM CLI's YAML loader: only for tests that need it
    from churn_local.tooling.sam_expansion import default_threshold

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
