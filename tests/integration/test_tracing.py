"""X-Ray as deployed: the function, in Lambda's environment, traces itself and every AWS call it makes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from churn_local.constants import PROJECT_ROOT
from churn_local.lambda_runtime.runtime import (
    UNUSABLE_CREDENTIALS,
    daemon_port,
    handler_environment,
    lambda_runtime_environment,
    xray_daemon,
)
from churn_local.services.s3_server import s3_server_holding
from churn_local.services.sagemaker_endpoint import make_server

ENDPOINT = "churn-xgboost"
BUCKET = "churn-traced"
KEY = "transformation.sav"


@pytest.fixture(scope="module")
def aws_services(trained_artifacts: Path) -> Iterator[dict[str, str]]:
    """Serve S3 (moto, holding the transformation) and the SageMaker endpoint (the session's model) locally."""
    endpoint = make_server(trained_artifacts / "model.tar.gz", ENDPOINT, "127.0.0.1", 0)
    thread = threading.Thread(target=endpoint.serve_forever, daemon=True)
    thread.start()
    try:
        with s3_server_holding(BUCKET, KEY, (trained_artifacts / KEY).read_bytes()) as s3_url:
            yield {"AWS_ENDPOINT_URL_S3": s3_url, "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint.url}
    finally:
        endpoint.shutdown()
        endpoint.server_close()
        thread.join(timeout=10)


def received(daemon: socket.socket) -> list[dict[str, Any]]:
    """Return every segment document the daemon's socket holds (each datagram: a header line, then the document)."""
    documents = []
    daemon.settimeout(2)
    while True:
        try:
            datagram = daemon.recv(65536).decode()
        except TimeoutError:
            return documents
        documents += [json.loads(line) for line in datagram.splitlines() if line.startswith("{") and "id" in line]


def test_a_scored_customer_is_traced_with_its_s3_and_sagemaker_calls(aws_services: dict[str, str]) -> None:
    # GIVEN the function in Lambda's environment with X-Ray on and a sampled request, S3 and the endpoint local
    with xray_daemon() as daemon:
        environment = {
            **lambda_runtime_environment(PROJECT_ROOT / "src", daemon_port(daemon)),
            **aws_services,
            "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "src"), str(PROJECT_ROOT)]),
            **handler_environment(EndpointName=ENDPOINT, TransformBucket=BUCKET, TransformKey=KEY, LogLevel="WARNING"),
            **UNUSABLE_CREDENTIALS,
        }
        # WHEN it scores one customer (its first request: it loads the transformation from S3)
        code = "from tests.integration.traced_child import score_one_customer_in_lambda as run; run()"
        child = subprocess.run([sys.executable, "-c", code], env=environment, cwd=PROJECT_ROOT, capture_output=True,
                               text=True, timeout=120, check=False)  # fmt: skip
        assert "STATUS 200" in child.stdout, child.stderr[-3000:]
        documents = received(daemon)
    # THEN the daemon gets the handler's subsegment and one for each AWS call, all in Lambda's trace
    handler = [d for d in documents if d.get("name") == "## lambda_handler"]
    calls = {d["aws"]["operation"]: d for d in documents if d.get("namespace") == "aws"}
    assert len(handler) == 1
    assert {"GetObject", "InvokeEndpoint"} <= set(calls)
    assert {d["trace_id"] for d in [*handler, *calls.values()]} == {"1-5759e988-bd862e3fe1be46a994272793"}
    # AND only botocore was patched: X-Ray's patch_all would have imported sqlite3 to patch it (cold-start time)
    assert "SQLITE3 False" in child.stdout
