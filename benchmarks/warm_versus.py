"""The warm handler of another revision beside this tree's, in one run: `python -m benchmarks.warm_versus main`.

Each side runs in its own process (two versions of churn_api cannot share one), run after run in turn, so that a
neighbour's load falls on both alike: one customer through /predict, 1,000 through /predict/batch, the median of
many calls, in CPU time (what the function itself spends; wall time on a shared machine adds others' waiting).
With --traced, both sides run in Lambda's environment with X-Ray on, every request sampled, as deployed.
The other revision's src/churn_api is taken with `git archive`; everything else (benchmarks, churn_local, the
installed packages) is this tree's.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIZES = (1, 1_000)


def measure(artifacts: Path, calls: dict[int, int], traced: bool = False) -> dict[str, float]:
    """Time this process's churn_api handler (medians in ms); runs in the child."""
    from benchmarks import warm  # noqa: PLC0415 - after PYTHONPATH chose which churn_api
    from churn_local.lambda_runtime.context import LambdaContext  # noqa: PLC0415
    from churn_local.training import dataset  # noqa: PLC0415

    saved = pickle.loads((artifacts / "transformation.sav").read_bytes())  # noqa: S301 - just trained
    payloads = [dataset.as_payload(row) for _, row in dataset.load().head(max(SIZES)).iterrows()]
    results: dict[str, float] = {}
    with warm.function_container(saved, traced=traced) as (app, _), contextlib.redirect_stdout(io.StringIO()) as sink:
        context = LambdaContext(timeout_s=warm.LONG_ENOUGH_MS / 1000)
        for n in SIZES:
            (event,) = warm.handler_events(payloads[:n])
            for _ in range(5):
                assert app.lambda_handler(event, context)["statusCode"] == 200
            cpu, wall = [], []
            for _ in range(calls[n]):
                started, started_cpu = time.perf_counter(), time.process_time()
                app.lambda_handler(event, context)
                cpu.append(time.process_time() - started_cpu)
                wall.append(time.perf_counter() - started)
                sink.seek(0)
                sink.truncate()
            results[f"{n} cpu_ms"] = statistics.median(cpu) * 1000
            results[f"{n} wall_ms"] = statistics.median(wall) * 1000
    return results


def run_side(src: Path, artifacts: Path, calls: dict[int, int], traced: bool) -> dict[str, float]:
    """Run one measuring child with `src` first on its path."""
    code = f"from benchmarks.warm_versus import measure; import json, pathlib; print('VERSUS', json.dumps(measure(pathlib.Path({str(artifacts)!r}), {calls!r}, {traced!r})))"  # noqa: E501
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{ROOT}"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"the measuring process failed:\n{out.stderr[-3000:]}")
    (line,) = [line for line in out.stdout.splitlines() if line.startswith("VERSUS ")]
    results: dict[str, float] = json.loads(line.removeprefix("VERSUS "))
    return results


def main(argv: list[str]) -> int:
    """Time the other revision and this tree in turn; print medians and ratios."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.warm_versus", description=__doc__)
    parser.add_argument("revision", help="the git revision to compare with, e.g. main")
    parser.add_argument("--rounds", type=int, default=3, help="processes per side, in turn")
    parser.add_argument("--traced", action="store_true", help="X-Ray on, every request sampled, as deployed")
    args = parser.parse_args(argv)
    from churn_local.training import dataset  # noqa: PLC0415
    from churn_local.training.train import train  # noqa: PLC0415

    calls = {1: 400, 1_000: 60}
    with tempfile.TemporaryDirectory(prefix="churn-versus-") as tmp:
        other = Path(tmp) / "other"
        other.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.revision, "src/churn_api"], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(other)], input=archive.stdout, check=True)
        train(dataset.DATA_PATH, Path(tmp), seed=42, test_size=0.25)  # the template's Threshold
        sides: dict[str, list[dict[str, float]]] = {args.revision: [], "this tree": []}
        for _ in range(args.rounds):
            sides[args.revision].append(run_side(other / "src", Path(tmp), calls, args.traced))
            sides["this tree"].append(run_side(ROOT / "src", Path(tmp), calls, args.traced))
    medians: dict[str, Any] = {
        side: {key: statistics.median(run[key] for run in runs) for key in runs[0]} for side, runs in sides.items()
    }
    tracing = "X-Ray on, every request sampled" if args.traced else "tracing off"
    print(f"Warm handler ({tracing}), median ms over {args.rounds} processes per side, taken in turn:")
    for key in medians["this tree"]:
        theirs, ours = medians[args.revision][key], medians["this tree"][key]
        print(f"  {key:>12}: {args.revision} {theirs:8.3f}   this tree {ours:8.3f}   ratio {ours / theirs:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
