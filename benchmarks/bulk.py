"""Bulk scoring's speed and memory on the local stack: `make bench-bulk` (python -m benchmarks.bulk).

It starts the stack as `make serve` does (free ports, artifacts trained into a temporary folder), then scores with
`make score`'s entry point, each run a process of its own whose peak resident memory the kernel reports (wait4):
- the data set's 5,000 rows, and the same 5,000 rows posted to /predict/batch 1,000 at a time (looping over the API,
  what bulk scoring replaces), side by side;
- a generated file of --rows rows (default 1,000,000: the real rows repeated, in a temporary folder, never kept),
  whose peak memory must stay under MEMORY_CEILING_MB whatever the file's size (chunks of 1,000 rows).
Nothing here asserts a speed; the memory ceiling is reported as kept or broken (exit status 1 if broken).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from churn_api.rules import MAX_BATCH_SIZE
from churn_local.constants import PROJECT_ROOT
from churn_local.training import dataset

ROOT = PROJECT_ROOT
READY = re.compile(r"churn-api local stack ready: api=(?P<api>\S+) endpoint=(?P<endpoint>\S+) s3=(?P<s3>\S+)")
# The bulk CLI's peak resident memory, whatever the input's size: the interpreter with pydantic, boto3, numpy and
# scikit-learn (the transformation) takes about 150 MB; 2 chunks of 1,000 rows in flight add a few MB.
MEMORY_CEILING_MB = 300


def start_stack(artifacts: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start `python -m churn_local.stack.serve` on free ports; return it and its URLs once it is ready."""
    command = [sys.executable, "-m", "churn_local.stack.serve", "--artifacts", str(artifacts)]
    command += ["--api-port", "0", "--endpoint-port", "0", "--s3-port", "0", "--environments", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if match := READY.search(line):
            # Keep reading, so that the function's log lines never fill the pipe.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, match.groupdict()
    raise RuntimeError("the local stack did not start")


def score(source: Path, output: Path, urls: dict[str, str], artifacts: Path) -> dict[str, Any]:
    """Run make score's entry point in a process of its own; return its rows/s and its peak resident memory."""
    command = [sys.executable, "-m", "churn_local.bulk.score", str(source), str(output), "--restart"]
    command += ["--artifacts", str(artifacts), "--s3-url", urls["s3"], "--endpoint-url", urls["endpoint"]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=stderr, text=True)
        # wait4 gives this one child's resource usage: its peak resident set (KB on Linux).
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        said, errors = stdout.read(), stderr.read()
    if process.returncode != 0:
        raise RuntimeError(f"make score failed: {errors[-2000:]}")
    rows = int(re.search(r": ([\d,]+) rows,", said)[1].replace(",", ""))  # type: ignore[index]
    seconds = float(re.search(r"in ([\d.]+) s", said)[1])  # type: ignore[index]
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "peak_mb": usage.ru_maxrss / 1024}


def api_loop(rows: list[dict[str, str]], api_url: str) -> dict[str, Any]:
    """POST the rows to /predict/batch, the most a request takes at a time, one after the other; return rows/s."""
    started = time.perf_counter()
    for start in range(0, len(rows), MAX_BATCH_SIZE):
        body = json.dumps({"customers": rows[start : start + MAX_BATCH_SIZE]}).encode()
        request = urllib.request.Request(f"{api_url}/predict/batch", data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
            response.read()
    seconds = time.perf_counter() - started
    return {"rows": len(rows), "seconds": seconds, "rows_per_s": len(rows) / seconds}


def generate(target: Path, rows: int) -> None:
    """Write a CSV of `rows` rows: the data set's header, then its real rows over and over (CRLF, as shipped)."""
    header, *lines = dataset.DATA_PATH.read_bytes().split(b"\r\n")
    with target.open("wb") as out:
        out.write(header + b"\r\n")
        written = 0
        while written < rows:
            take = lines[: rows - written]
            out.write(b"\r\n".join(take) + b"\r\n")
            written += len(take)


def main(argv: list[str] | None = None) -> int:
    """Measure and print; exit 1 if the memory ceiling was broken."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bulk", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated file (default 1,000,000)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="churn-bulk-") as folder:
        tmp = Path(folder)
        stack, urls = start_stack(tmp / "artifacts")
        try:
            with dataset.DATA_PATH.open(encoding="utf-8", newline="") as file:
                rows = list(csv.DictReader(file))
            small = score(dataset.DATA_PATH, tmp / "small.csv", urls, tmp / "artifacts")
            loop = api_loop(rows, urls["api"])
            generate(tmp / "large.csv", args.rows)
            size_mb = (tmp / "large.csv").stat().st_size / 1e6
            large = score(tmp / "large.csv", tmp / "large-out.csv", urls, tmp / "artifacts")
        finally:
            stack.terminate()
            stack.wait(timeout=30)
    print(f"\nBulk scoring on the local stack (make score's entry point; memory ceiling {MEMORY_CEILING_MB} MB):")
    print(f"  {'5,000 rows, make score':<44} {small['rows_per_s']:>9,.0f} rows/s  peak {small['peak_mb']:4.0f} MB")
    print(f"  {'5,000 rows, /predict/batch 1,000 at a time':<44} {loop['rows_per_s']:>9,.0f} rows/s  "
          f"(make score: {small['rows_per_s'] / loop['rows_per_s']:.2f}x)")  # fmt: skip
    print(f"  {f'{args.rows:,} rows ({size_mb:,.0f} MB), make score':<44} {large['rows_per_s']:>9,.0f} rows/s  "
          f"peak {large['peak_mb']:4.0f} MB  ({large['seconds']:.0f} s)")  # fmt: skip
    kept = max(small["peak_mb"], large["peak_mb"]) <= MEMORY_CEILING_MB
    print(f"  memory ceiling {MEMORY_CEILING_MB} MB: {'kept' if kept else 'BROKEN'}")
    return 0 if kept else 1


if __name__ == "__main__":
    sys.exit(main())
