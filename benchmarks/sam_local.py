"""make serve and make sam-local side by side: time to the first answer, and requests/s (`make bench-sam-local`).

Both serve the same trained artifacts from the same local S3 and SageMaker endpoint. The first answer is timed from
the start of the process to the reference customer's 200 (sam build and the image build are done beforehand and
timed apart: both are cached between runs). Requests/s: the reference customer POSTed over one connection at a
time, then from 4 threads at once. `sam deploy` cannot run here (no AWS account): docs/local.md says so. Nothing here
asserts.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from churn_local.constants import PROJECT_ROOT
from churn_local.containers import dockerd, lambda_image, sam_local
from churn_local.containers.sam_build import sam_build
from churn_local.stack.serve import READY_LINE as SERVE_READY
from churn_local.training import dataset
from churn_local.training.train import train

ROOT = PROJECT_ROOT
REFERENCE = json.loads((ROOT / "events" / "direct-reference.json").read_text(encoding="utf-8"))


def post(url: str) -> float:
    """POST the reference customer; return its score."""
    request = urllib.request.Request(
        f"{url}/predict", data=json.dumps(REFERENCE).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return float(json.loads(answer.read())["score"])


@contextmanager
def running(command: list[str], ready: re.Pattern[str], timeout_s: float = 300.0) -> Iterator[tuple[str, float]]:
    """Start a server process; yield its API URL and the seconds from start to its first 200 on /predict."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found: dict[str, str] = {}
    event = threading.Event()
    threading.Thread(target=_watch, args=(process.stdout, ready, found, event), daemon=True).start()
    try:
        if not event.wait(timeout_s) or "api" not in found:
            raise RuntimeError(f"{command[2]} did not get ready")
        post(found["api"])
        yield found["api"], time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _watch(stream: IO[str], ready: re.Pattern[str], found: dict[str, str], event: threading.Event) -> None:
    for line in stream:
        match = ready.search(line)
        if match:
            found.update(match.groupdict())
            event.set()
    event.set()


def rate(url: str, requests: int, threads: int) -> float:
    """Return requests/s for the reference customer, `threads` at a time."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda _: post(url), range(requests)))
    return requests / (time.perf_counter() - started)


def timed(step: Callable[[], Any]) -> float:
    """Return the seconds a step took."""
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def main() -> int:
    """Measure both ways in one run and print them side by side."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sam_local", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per measurement (default 200)")
    args = parser.parse_args()
    dockerd.ensure_running()
    with tempfile.TemporaryDirectory(prefix="bench-sam-local-") as folder:
        work = Path(folder)
        artifacts = work / "artifacts"
        train(dataset.DATA_PATH, artifacts, seed=42)
        image_s = timed(lambda: lambda_image.ensure_image(lambda text: None))
        build = work / "build"
        build_s = timed(lambda: sam_build(build, ROOT))
        serve = [sys.executable, "-m", "churn_local.stack.serve", "--artifacts", str(artifacts), "--environments", "1"]
        serve += ["--api-port", "0", "--endpoint-port", "0", "--s3-port", "0"]
        local = [sys.executable, "-m", "churn_local.containers.sam_local", "--artifacts", str(artifacts)]
        local += ["--build-dir", str(build), "--env-vars", str(work / "env-vars.json")]
        figures: dict[str, dict[str, float]] = {}
        for name, command, ready in (
            ("make serve", serve, SERVE_READY),
            ("make sam-local", local, sam_local.READY_LINE),
        ):
            with running(command, ready) as (url, first_s):
                figures[name] = {
                    "first_answer_s": first_s,
                    "score": post(url),
                    "sequential_rps": rate(url, args.requests, 1),
                    "rps_4_threads": rate(url, args.requests, 4),
                }
    base = figures["make serve"]
    print(f"\nThe reference customer, {args.requests} requests per figure (ratio to make serve):")
    print(f"  {'':<16}{'first answer':>20}{'requests/s, 1 at a time':>30}{'requests/s, 4 threads':>28}   score")
    for name, row in figures.items():
        print(
            f"  {name:<16}{row['first_answer_s']:>10.1f} s ({row['first_answer_s'] / base['first_answer_s']:>5.1f}x)"
            f"{row['sequential_rps']:>18.1f} ({row['sequential_rps'] / base['sequential_rps']:>5.3f}x)"
            f"{row['rps_4_threads']:>16.1f} ({row['rps_4_threads'] / base['rps_4_threads']:>5.3f}x)   {row['score']!r}"
        )
    print(
        f"  before make sam-local's first answer: sam build {build_s:.1f} s, the Lambda image {image_s:.1f} s (cached)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
