"""Measure the local stack over HTTP, this checkout against a baseline commit, side by side in one run.

    python -m benchmarks.stack_versus --baseline main --rounds 2 --duration 10     (or: make bench-local)

For each round and each variant (the baseline's code exported with `git archive`, then this checkout) it starts the
stack in a fresh worker process (`LocalStack`, as `make serve` does, on free ports), then measures:
- sequential latency of POST /predict (one keep-alive connection) and of a 1,000-customer POST /predict/batch;
- throughput of POST /predict at `--connections` keep-alive connections for `--duration` seconds, with wrk when it
  is installed (`apt-get install wrk`), else a pool of http.client threads in this process; errors and non-2xx
  are counted;
- each variant with `--environments N` (default: the Makefile's ENVIRONMENTS, as `make serve` runs): the function
  in N processes side by side (a baseline from before `--environments` runs only with one), and with one
  environment in the stack's process (`--no-single` leaves that out);
- where each request goes: with one environment the worker times `lambda_handler` (its call to the endpoint
  included) and the endpoint container (CSV -> scores) by wall clock and by the CPU time of their threads, and the
  whole process's CPU. For sequential requests, "outside it" (mean latency minus the time in lambda_handler) is the
  API side of the stack: HTTP, the proxy event, the invocation; "other threads" is CPU spent outside the handler's
  and the container's threads: the HTTP servers, the event, and any thread the handler hands work to. With N
  environments: the CPU of the stack's process (HTTP servers, event, endpoint container) and of the environment
  processes (the handler, its boto3 calls, the invocation's pipe).
Variants alternate within a round so that both see the same machine load; the table reports each round. Nothing
here asserts: the issue's goals (>= 500 requests/s at 32 connections, batch of 1,000 <= 50 ms) are printed beside
the numbers. The handler's log lines go to /dev/null in the worker (the same for both variants).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.http_load import load, per_request, sequential

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = "BENCH "
GOAL_RPS, GOAL_BATCH_MS = 500, 50


def serve_environments(makefile: Path = ROOT / "Makefile") -> int:
    """Return the function environments `make serve` runs (the Makefile's ENVIRONMENTS default; 1 if unset)."""
    found = re.search(r"^ENVIRONMENTS \?=[ \t]*(\d*)[ \t]*$", makefile.read_text(encoding="utf-8"), re.MULTILINE)
    return int(found[1]) if found and found[1] else 1


class Timer:
    """Accumulate the wall and thread-CPU time of calls, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.wall = self.cpu = 0.0

    def wrap(self, call: Callable[..., Any]) -> Callable[..., Any]:
        """Return `call`, timed."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return call(*args, **kwargs)
            finally:
                wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
                with self._lock:
                    self.calls += 1
                    self.wall += wall
                    self.cpu += cpu

        return timed

    def take(self) -> dict[str, float]:
        """Return the totals since the last take (milliseconds) and restart them."""
        with self._lock:
            taken = {"calls": self.calls, "wall_ms": self.wall * 1e3, "cpu_ms": self.cpu * 1e3}
            self.calls, self.wall, self.cpu = 0, 0.0, 0.0
        return taken


def _children_cpu_ms() -> float:
    """Return the CPU time of this process's live children (the function's environment processes), from /proc."""
    import multiprocessing  # noqa: PLC0415 - only the worker counts its children

    total = 0.0
    for child in multiprocessing.active_children():
        try:
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) * 1e3 / os.sysconf("SC_CLK_TCK")
    return total


def worker(artifacts: Path, environments: int) -> int:
    """Run the stack in this process with timers around the handler and the endpoint; answer `stats` on stdin."""
    try:
        from churn_local.services import sagemaker_endpoint  # noqa: PLC0415 - the compared tree
        from churn_local.stack.local_stack import LocalStack, StackSettings  # noqa: PLC0415 - the compared tree
    except ImportError:  # a baseline from before the package's rooms
        from churn_local import sagemaker_endpoint  # type: ignore[attr-defined,no-redef]  # noqa: PLC0415 - the compared tree
        from churn_local.stack import LocalStack, StackSettings  # type: ignore[attr-defined,no-redef]  # noqa: PLC0415 - the compared tree

    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the handler's JSON logs
    handler, endpoint = Timer(), Timer()
    container = sagemaker_endpoint.XGBoostContainer  # type: ignore[attr-defined]  # imported there, in every revision
    container.invocations = endpoint.wrap(container.invocations)  # type: ignore[method-assign]
    # A baseline from before `environments` existed can only run the default (main() skips it then).
    extra: dict[str, Any] = {"environments": environments} if environments > 1 else {}
    settings = StackSettings(artifacts=artifacts, api_port=0, endpoint_port=0, s3_port=0, **extra)
    stack = LocalStack(settings, say=lambda _: None)
    stack.start()
    for function in stack.api.containers.values():
        if hasattr(function, "handler"):  # in-process; environment processes are out of reach
            function.handler = handler.wrap(function.handler)

    def cpu_ms() -> tuple[float, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return (usage.ru_utime + usage.ru_stime) * 1e3, _children_cpu_ms()

    last = cpu_ms()
    print(PROTOCOL + json.dumps({"api": stack.api_url}), file=protocol)
    for line in sys.stdin:
        now = cpu_ms()
        stats = {
            "handler": handler.take(),
            "endpoint": endpoint.take(),
            "process_cpu_ms": now[0] - last[0] + now[1] - last[1],
            "environments_cpu_ms": now[1] - last[1],
        }
        last = now
        print(PROTOCOL + json.dumps(stats), file=protocol)
        if line.strip() == "stop":
            break
    stack.stop()
    return 0


class Worker:
    """A worker process running one variant of the stack."""

    def __init__(self, code_root: Path, artifacts: Path, environments: int = 1) -> None:
        paths = [str(code_root / "local"), str(code_root / "src"), str(ROOT)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["PYTHONPATH"] = os.pathsep.join(paths)
        command = [sys.executable, "-m", "benchmarks.stack_versus", "--worker", str(artifacts)]
        command += ["--environments", str(environments)]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.api_url = self._read()["api"]
        self.stats()  # start counting from here

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(PROTOCOL):
                answer: dict[str, Any] = json.loads(line[len(PROTOCOL) :])
                return answer
        raise RuntimeError("the benchmark worker exited early")

    def stats(self, command: str = "stats") -> dict[str, Any]:
        """Return the worker's timers since the last call."""
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def stop(self) -> None:
        """Stop the stack and the worker."""
        try:
            self.stats("stop")
        finally:
            self.process.wait(timeout=60)


def measure(worker: Worker, one: bytes, batch: bytes, args: argparse.Namespace) -> dict[str, Any]:
    """Run the three measurements against one running worker."""
    sequential(worker.api_url, "/predict", one, 20)  # warm: the first call loads the transformation
    sequential(worker.api_url, "/predict/batch", batch, 2)
    worker.stats()
    single = sequential(worker.api_url, "/predict", one, args.sequential)
    single_split = per_request(worker.stats(), len(single))
    batches = sequential(worker.api_url, "/predict/batch", batch, args.batches)
    batch_split = per_request(worker.stats(), len(batches))
    loaded = load(worker.api_url, one, args.connections, args.duration)
    load_split = per_request(worker.stats(), loaded["requests"])
    return {
        "single_ms": statistics.median(single),
        "single_mean_ms": statistics.fmean(single),
        "single_split": single_split,
        "batch_ms": statistics.median(batches),
        "batch_mean_ms": statistics.fmean(batches),
        "batch_split": batch_split,
        "load": {**loaded, "rps": loaded["requests"] / loaded["seconds"]},
        "load_split": load_split,
    }


@contextmanager
def exported(ref: str) -> Iterator[Path]:
    """Yield a folder holding the tree of `ref` (git archive), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="churn-baseline-") as tmp:
        archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp)


def payloads() -> tuple[bytes, bytes]:
    """Return one customer and a batch of 1,000 as JSON bodies, from the bundled data set."""
    from churn_local.training import dataset  # noqa: PLC0415 - the compared tree

    rows = [dataset.as_payload(row) for _, row in dataset.load().head(1000).iterrows()]
    return json.dumps(rows[1]).encode(), json.dumps({"customers": rows}).encode()


def report(name: str, round_: int, result: dict[str, Any]) -> list[str]:
    """Render one variant's results."""
    load_, ls, ss, bs = result["load"], result["load_split"], result["single_split"], result["batch_split"]
    single = (result["single_ms"], result["single_mean_ms"], ss)
    batch = (result["batch_ms"], result["batch_mean_ms"], bs)

    def split(s: dict[str, float]) -> str:
        if not s["handler_wall_ms"]:  # the handler ran in environment processes, out of the timers' reach
            stack_process = s["process_cpu_ms"] - s["environments_cpu_ms"]
            return (
                f"cpu/request {s['process_cpu_ms']:.2f} ms = the stack's process {stack_process:.2f} (HTTP servers, "
                f"event, endpoint container) + environment processes {s['environments_cpu_ms']:.2f} (the handler)"
            )
        # Thread CPU: work the handler hands to threads of its own counts as "other threads".
        return (
            f"cpu/request {s['process_cpu_ms']:.2f} ms = handler's thread {s['handler_cpu_ms']:.2f} + endpoint "
            f"container {s['endpoint_cpu_ms']:.2f} + other threads {s['stack_cpu_ms']:.2f}"
        )

    def wall(median: float, mean: float, s: dict[str, float]) -> str:
        if not s["handler_wall_ms"]:
            return f"median {median:.2f} ms"
        inside, container = s["handler_wall_ms"], s["endpoint_wall_ms"]
        return (
            f"median {median:.2f} ms; mean {mean:.2f} ms = in lambda_handler {inside:.2f} (its endpoint call "
            f"included; endpoint container {container:.2f}) + outside it {mean - inside:.2f}"
        )

    return [
        f"  {name} (round {round_})",
        f"    POST /predict at {load_['connections']} connections ({load_['client']}, {load_['seconds']:.0f} s): "
        f"{load_['rps']:.0f} requests/s (goal >= {GOAL_RPS}), errors {load_['errors']}, non-2xx {load_['non2xx']}, "
        f"p50 {load_['p50_ms']:.1f} ms, p99 {load_['p99_ms']:.1f} ms",
        f"      {split(ls)}",
        f"    POST /predict sequential: {wall(*single)}",
        f"      {split(ss)}",
        f"    POST /predict/batch 1,000 customers (goal <= {GOAL_BATCH_MS} ms): {wall(*batch)}",
        f"      {split(bs)}",
    ]


def main(argv: list[str] | None = None) -> int:
    """Compare the local stack of this checkout with a baseline commit's."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stack_versus", description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="REF", help="git commit to compare with (default: none)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load (default 10)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--sequential", type=int, default=300, help="sequential POST /predict requests")
    parser.add_argument("--batches", type=int, default=15, help="sequential 1,000-customer batches")
    parser.add_argument(
        "--environments",
        type=int,
        default=serve_environments(),
        help="also run each variant with N environment processes (default: make serve's, %(default)s)",
    )
    parser.add_argument(
        "--single",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run each variant with one in-process environment too (default: yes)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        return worker(args.worker, args.environments)

    from churn_local.training.train import train  # noqa: PLC0415 - the compared tree

    one, batch = payloads()
    results: list[dict[str, Any]] = []
    machine = f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load avg {os.getloadavg()[0]:.1f}"
    lines = [f"local stack, {machine}"]
    with tempfile.TemporaryDirectory(prefix="churn-bench-") as tmp, _baseline(args.baseline) as baseline:
        train(out_dir=Path(tmp))  # at the template's Threshold
        variants = _variants(args, baseline)
        for round_ in range(1, args.rounds + 1):
            for name, code_root, environments in variants:
                worker_ = Worker(code_root, Path(tmp), environments)
                try:
                    result = measure(worker_, one, batch, args)
                finally:
                    worker_.stop()
                result["load"]["connections"] = args.connections
                results.append({"variant": name, "round": round_, **result})
                print("\n".join([*lines, *report(name, round_, result)]), flush=True)
                lines = []
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _variants(args: argparse.Namespace, baseline: Path | None) -> list[tuple[str, Path, int]]:
    """Return (name, code, environments) to run in each round, the baseline's and this checkout's side by side."""
    codes = [(f"baseline {args.baseline}", baseline)] if baseline else []
    codes.append(("this checkout", ROOT))
    variants = []
    for name, code in codes:
        if args.environments > 1 and _knows_environments(code):
            variants.append((f"{name}, --environments {args.environments}", code, args.environments))
        if args.single or args.environments == 1:
            variants.append((name, code, 1))
    return sorted(variants, key=lambda variant: -variant[2])  # alike variants one after the other


def _knows_environments(code: Path) -> bool:
    package = code / "local" / "churn_local"
    stack = package / "stack" / "local_stack.py"
    if not stack.exists():
        stack = package / "stack.py"  # a baseline from before the package's rooms
    return "environments: int" in stack.read_text(encoding="utf-8")


@contextmanager
def _baseline(ref: str | None) -> Iterator[Path | None]:
    if ref is None:
        yield None
        return
    with exported(ref) as path:
        yield path


if __name__ == "__main__":
    sys.exit(main())
