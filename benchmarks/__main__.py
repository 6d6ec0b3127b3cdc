"""Measure the local stack end to end over HTTP, the preprocessing alone, and a cold container.

Run with `make bench`. It trains into a temporary folder, starts `python -m churn_local.serve` on free ports,
and prints one table. Nothing here asserts: speed goals live in numbers, not in tests.
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from churn_api.models import Customer
from churn_api.preprocessing import Transformation
from churn_local import dataset
from churn_local.serve import READY_LINE, local_aws_environment
from churn_local.train import train
from tests.support import template_threshold

ROOT = dataset.PROJECT_ROOT


def percentiles(samples_ms: list[float]) -> str:
    """Render p50/p95/p99 of millisecond samples."""
    q = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return f"p50 {q[49]:.2f} ms, p95 {q[94]:.2f} ms, p99 {q[98]:.2f} ms (n={len(samples_ms)})"


def timed(call: Callable[[], Any], repeat: int) -> list[float]:
    """Run `call` `repeat` times and return each duration in milliseconds."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def post(url: str, body: Any) -> dict[str, Any]:
    """POST JSON and return the decoded answer, failing loudly on a non-2xx status."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


@contextmanager
def local_stack(artifacts: Path) -> Iterator[tuple[str, str, str]]:
    """Run the local stack as `make serve` does, on free ports, and yield its api, endpoint and s3 URLs."""
    command = [sys.executable, "-m", "churn_local.serve", "--artifacts", str(artifacts)]
    command += ["--api-port", "0", "--endpoint-port", "0", "--s3-port", "0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
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
        yield match["api"], match["endpoint"], match["s3"]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def cold_container(endpoint_url: str, s3_url: str) -> tuple[float, float, float]:
    """Time a fresh interpreter's `import churn_api.app` and first prediction; return them and its peak RSS."""
    script = (
        "import json, time, resource\n"
        "t0 = time.perf_counter()\n"
        "import churn_api.app as app\n"
        "t1 = time.perf_counter()\n"
        "from tests.support import FakeLambdaContext, load_event\n"
        "app.lambda_handler(load_event('direct-reference'), FakeLambdaContext())\n"
        "t2 = time.perf_counter()\n"
        "print(json.dumps([(t1 - t0) * 1000, (t2 - t1) * 1000,"
        " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(local_aws_environment(s3_url, endpoint_url))
    env.update(
        ENDPOINT_NAME="churn-xgboost",
        TRANSFORM_BUCKET="churn-api-local",
        TRANSFORM_KEY="transformation.sav",
        THRESHOLD=template_threshold(),
        POWERTOOLS_LOG_LEVEL="WARNING",
        POWERTOOLS_METRICS_DISABLED="true",
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=120
    )
    imported, first, rss = json.loads(out.stdout.strip().splitlines()[-1])
    return imported, first, rss


def main() -> int:
    """Run every benchmark and print the results."""
    frame = dataset.load()
    payloads = [dataset.as_payload(row) for _, row in frame.iterrows()]
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="churn-bench-") as tmp:
        started = time.perf_counter()
        train(dataset.DATA_PATH, Path(tmp), seed=42, threshold=0.39, test_size=0.25)
        rows.append(("train (5,000 rows, 100 rounds)", f"{time.perf_counter() - started:.2f} s"))

        transformation = Transformation.from_mapping(pickle.loads((Path(tmp) / "transformation.sav").read_bytes()))
        for n in (1, 100, 1000):
            batch_payloads = payloads[:n]

            def validate_and_preprocess(batch: list[dict[str, str]] = batch_payloads) -> str:
                return transformation.to_csv([Customer.model_validate(p) for p in batch])

            rows.append((f"validate + preprocess {n:>4} customer(s)", percentiles(timed(validate_and_preprocess, 50))))

        with local_stack(Path(tmp)) as (api, endpoint, s3):
            post(f"{api}/predict", payloads[0])  # the first request loads the transformation
            single = timed(lambda: post(f"{api}/predict", payloads[1]), 300)
            rows.append(("HTTP POST /predict, sequential", percentiles(single)))
            batch = {"customers": payloads[:1000]}
            batch_ms = timed(lambda: post(f"{api}/predict/batch", batch), 10)
            rows.append(("HTTP POST /predict/batch, 1,000 customers", percentiles(batch_ms)))
            per_customer_us = statistics.median(batch_ms) * 1000 / len(batch["customers"])
            rows.append(("  per customer in a batch of 1,000", f"{per_customer_us:.0f} us"))
            with ThreadPoolExecutor(max_workers=8) as pool:
                started = time.perf_counter()
                list(pool.map(lambda i: post(f"{api}/predict", payloads[i % 5000]), range(400)))
                elapsed = time.perf_counter() - started
            rows.append(("HTTP POST /predict, 8 clients x 50", f"{400 / elapsed:.0f} requests/s"))
            imports = [cold_container(endpoint, s3) for _ in range(3)]
            rows.append(
                ("cold container: import churn_api.app", f"median {statistics.median(i[0] for i in imports):.0f} ms")
            )
            rows.append(
                (
                    "cold container: first prediction (S3 + unpickle + score)",
                    f"median {statistics.median(i[1] for i in imports):.0f} ms",
                )
            )
            rows.append(("cold container: peak RSS", f"{max(i[2] for i in imports):.0f} MB"))
    rows.append(("benchmark process peak RSS", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"))

    width = max(len(name) for name, _ in rows)
    print(f"churn-api benchmarks ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
