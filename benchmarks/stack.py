"""The local stack as `make serve` runs it (`python -m churn_local.stack.serve --environments N`, N from the Makefile)
over real HTTP: sequential latency on one keep-alive connection, POST /predict at 32 keep-alive connections (wrk
when installed, else http.client threads: the figures name the client), a 1,000-customer batch.

The load driver and the sequential client are benchmarks/http_load.py's (`make bench-local`); this module only
starts the stack the way `make serve` does and names the figures for benchmarks/results.json. Errors (socket errors
and non-2xx answers) are counted: a throughput figure with errors is not a result, and says so.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from benchmarks import http_load, stack_versus
from churn_local.stack.serve import READY_LINE

CONNECTIONS = 32
DURATION_S = 10.0
SEQUENTIAL = 200
BATCHES = 10


@contextmanager
def serving(root: Path, artifacts: Path, environments: int) -> Iterator[str]:
    """Run `python -m churn_local.stack.serve` as `make serve` does, on free ports, and yield its API's URL."""
    command = [sys.executable, "-m", "churn_local.stack.serve", "--artifacts", str(artifacts)]
    command += ["--api-port", "0", "--endpoint-port", "0", "--s3-port", "0", "--environments", str(environments)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    stdout = process.stdout
    drain = threading.Thread(target=_drain, args=(stdout,), daemon=True)
    try:
        for line in stdout:
            if match := READY_LINE.search(line.decode("utf-8", "replace")):
                break
        else:
            raise RuntimeError("the local stack exited before it was ready")
        drain.start()
        yield match["api"]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        if drain.is_alive():
            drain.join(timeout=10)
        stdout.close()


def _drain(stream: IO[bytes]) -> None:
    """Read the stack's stdout (the handler logs every request) in large chunks, so that the pipe never fills up."""
    while stream.read1(1 << 16):  # type: ignore[attr-defined]
        pass


def measure(
    root: Path, artifacts: Path, payloads: Sequence[dict[str, Any]], environments: int | None = None
) -> dict[str, Any]:
    """Return the local stack's latency and throughput figures, keyed for benchmarks/results.json."""
    environments = stack_versus.serve_environments() if environments is None else environments
    one = json.dumps(payloads[1]).encode()
    batch = json.dumps({"customers": list(payloads[:1000])}).encode()
    with serving(root, artifacts, environments) as api:
        http_load.sequential(api, "/predict", one, 20)  # the first request loads the transformation
        http_load.sequential(api, "/predict/batch", batch, 2)
        single = http_load.sequential(api, "/predict", one, SEQUENTIAL)
        loaded = http_load.load(api, one, CONNECTIONS, DURATION_S)
        batches = http_load.sequential(api, "/predict/batch", batch, BATCHES)
    quantiles = statistics.quantiles(single, n=100, method="inclusive")
    errors = loaded["errors"] + loaded["non2xx"]
    return {
        "environments": environments,
        "sequential_predict_p50_ms": quantiles[49],
        "sequential_predict_p99_ms": quantiles[98],
        "concurrent_client": loaded["client"],
        "concurrent_clients": CONNECTIONS,
        "concurrent_seconds": loaded["seconds"],
        "concurrent_requests": loaded["requests"],
        "concurrent_requests_per_s": loaded["requests"] / loaded["seconds"],
        "concurrent_p50_ms": loaded["p50_ms"],
        "concurrent_p99_ms": loaded["p99_ms"],
        # Socket errors (connect, read, write, timeout) plus answers outside 2xx: the figure counts only at 0.
        "concurrent_errors": errors,
        "concurrent_socket_errors": loaded["errors"],
        "concurrent_non2xx": loaded["non2xx"],
        "batch_1000_p50_ms": statistics.median(batches),
    }


def print_figures(figures: dict[str, Any]) -> None:
    """Print the figures, saying which client drove the load and whether the throughput counts."""
    print(
        f"\nLocal stack over HTTP, as `make serve` runs it ({figures['environments']} function environment(s)); "
        f"load from {figures['concurrent_client']}, {figures['concurrent_clients']} keep-alive connections:"
    )
    for name, value in figures.items():
        print(f"  {name:<28} {value:.2f}" if isinstance(value, float) else f"  {name:<28} {value}")
    if figures["concurrent_errors"]:
        print(f"  NOT A RESULT: {figures['concurrent_errors']} requests failed under load (0 required)")
    goals = (stack_versus.GOAL_RPS, stack_versus.GOAL_BATCH_MS)
    print(f"  goals: >= {goals[0]} requests/s with 0 errors; a batch of 1,000 <= {goals[1]} ms")
