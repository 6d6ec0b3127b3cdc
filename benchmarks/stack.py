"""The local stack (`make serve`) over real HTTP: sequential latency, 32 concurrent clients, a 1,000-customer batch."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from churn_local.serve import READY_LINE

CLIENTS = 32


def post(url: str, body: Any) -> int:
    """POST JSON over a fresh connection and return the status (4xx/5xx included)."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code)


@contextmanager
def local_stack(root: Path, artifacts: Path) -> Iterator[str]:
    """Run the local stack as `make serve` does, on free ports, and yield its API's URL."""
    command = [sys.executable, "-m", "churn_local.serve", "--artifacts", str(artifacts)]
    command += ["--api-port", "0", "--endpoint-port", "0", "--s3-port", "0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if match := READY_LINE.search(line):
                break
        else:
            raise RuntimeError("the local stack exited before it was ready")
        # Keep draining its stdout (the handler logs every request) so that the pipe never fills up.
        drain = ThreadPoolExecutor(max_workers=1)
        drain.submit(lambda: [None for _ in process.stdout])  # type: ignore[union-attr]
        yield match["api"]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def measure(root: Path, artifacts: Path, payloads: Sequence[dict[str, Any]], requests: int = 1_500) -> dict[str, Any]:
    """Return the local stack's latency and throughput figures."""
    with local_stack(root, artifacts) as api:
        post(f"{api}/predict", payloads[0])  # the first request loads the transformation
        sequential = []
        for i in range(200):
            started = time.perf_counter()
            post(f"{api}/predict", payloads[i % len(payloads)])
            sequential.append((time.perf_counter() - started) * 1000)
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            started = time.perf_counter()
            statuses = list(pool.map(lambda i: post(f"{api}/predict", payloads[i % len(payloads)]), range(requests)))
            elapsed = time.perf_counter() - started
        batch_ms = []
        for _ in range(10):
            started = time.perf_counter()
            post(f"{api}/predict/batch", {"customers": list(payloads[:1000])})
            batch_ms.append((time.perf_counter() - started) * 1000)
    quantiles = statistics.quantiles(sequential, n=100, method="inclusive")
    return {
        "sequential_predict_p50_ms": quantiles[49],
        "sequential_predict_p99_ms": quantiles[98],
        "concurrent_clients": CLIENTS,
        "concurrent_requests_per_s": requests / elapsed,
        "concurrent_errors": sum(1 for s in statuses if s != 200),
        "batch_1000_p50_ms": statistics.median(batch_ms),
    }
