"""Run every benchmark side by side in one run: `make bench` (python -m benchmarks).

It trains into a temporary folder, then measures the warm path in-process (benchmarks/warm.py), cold containers
from a fresh `sam build` (benchmarks/cold.py) and the local stack over HTTP (benchmarks/stack.py). It prints the
tables, writes results.json and draws performance.png into `--out` (per user, git-ignored: .churn-api/bench/); with
`--record` into the tracked benchmarks/results.json and docs/performance.png that docs/performance.md shows (`make bench
RECORD=1`, for a commit that updates the published figures). Nothing here asserts: speed goals live in numbers, not
in tests. `--skip cold,stack` leaves parts out while iterating.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import cold, plot, stack, warm
from churn_local.constants import PROJECT_ROOT
from churn_local.training import dataset
from churn_local.training.train import train

ROOT = PROJECT_ROOT
RECORDED = (ROOT / "benchmarks" / "results.json", ROOT / "docs" / "performance.png")
OUT = ROOT / ".churn-api" / "bench"
REFERENCE = "reference function (download + unpickle + scikit-learn, per request)"
OURS = "our handler (compiled)"


def machine() -> str:
    """Describe the machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
            if line.startswith("model name")
        )
        cpu = model
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()}"


def print_per_record(per_record: dict[str, dict[str, float]]) -> None:
    """Print microseconds per customer by batch size, and each variant's ratio to our handler."""
    sizes = list(next(iter(per_record.values())))
    width = max(len(name) for name in per_record)
    print(f"\nWarm path, microseconds per customer (ratio to {OURS!r}):")
    print(f"  {'':<{width}}  " + "".join(f"{n:>19}" for n in sizes))
    for name, row in per_record.items():
        cells = "".join(f"{row[n]:>10.2f} ({row[n] / per_record[OURS][n]:>5.2f}x)" for n in sizes)
        print(f"  {name:<{width}}  {cells}")


def print_phases(phases: dict[str, dict[str, float]]) -> None:
    """Print where the handler's time goes for 1 and 1,000 customers."""
    width = max(len(name) for name in phases)
    print("\nWhere the handler's time goes (ms, each part timed on its own):")
    print(f"  {'':<{width}}  {'1 customer':>12}  {'1,000 customers':>16}")
    for name, row in phases.items():
        print(f"  {name:<{width}}  {row['1']:>12.3f}  {row['1000']:>16.2f}")


def print_cold(result: dict[str, Any]) -> None:
    """Print the cold-start table, the import offenders and the sizes."""
    print("\nCold start, fresh process laid out like Lambda (median ms):")
    print(f"  {'':<22}{'import':>9}{'init':>9}{'1st request':>13}{'total':>9}{'runs':>6}")
    for name, row in result["table"].items():
        imported = row.get("import_ms", row["init_ms"])
        print(f"  {name:<22}{imported:>9.0f}{row['init_ms']:>9.0f}{row['first_request_ms']:>13.0f}"
              f"{row['total_ms']:>9.0f}{row['runs']:>6}")  # fmt: skip
    print(f"  lazy / bare sklearn: {result['ratio_lazy_to_bare_sklearn']:.2f}x, "
          f"eager / bare sklearn: {result['ratio_eager_to_bare_sklearn']:.2f}x, "
          f"libraries alone / bare sklearn: {result['ratio_libraries_to_bare_sklearn']:.2f}x")  # fmt: skip
    print("  top -X importtime offenders, top-level imports of the handler and the first load (cumulative ms):")
    print("   ", ", ".join(f"{n} {ms:.0f}" for n, ms in result["importtime"]["top_level_cumulative_ms"][:6]))
    print("  top modules by self time (ms):")
    print("   ", ", ".join(f"{n} {ms:.0f}" for n, ms in result["importtime"]["modules_self_ms"]))
    sizes = result["sizes_bytes"]
    print(f"  sam build output, unzipped: function {sizes['ChurnFunction'] / 2**20:.1f} MiB + layer "
          f"{sizes['SklearnLayer'] / 2**20:.1f} MiB = {sizes['total'] / 2**20:.1f} MiB")  # fmt: skip


def main(argv: list[str]) -> int:
    """Run the benchmarks and record the results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--skip", default="", help="comma-separated parts to leave out: cold, stack")
    parser.add_argument("--environments", type=int, help="the local stack's function environments (make serve's)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for results.json and performance.png")
    parser.add_argument("--record", action="store_true", help="write the tracked figures docs/performance.md shows")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    frame = dataset.load()
    payloads = [dataset.as_payload(row) for _, row in frame.iterrows()]
    results: dict[str, Any] = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    with tempfile.TemporaryDirectory(prefix="churn-bench-") as tmp:
        started = time.perf_counter()
        train(dataset.DATA_PATH, Path(tmp), seed=42, test_size=0.25)
        results["train_s"] = time.perf_counter() - started
        saved = pickle.loads((Path(tmp) / "transformation.sav").read_bytes())  # noqa: S301 - just trained
        results["per_record_us"] = warm.per_record(payloads, saved)
        results["phases_ms"] = warm.phases(payloads, saved)
        print_per_record(results["per_record_us"])
        print_phases(results["phases_ms"])
        if "cold" not in skip:
            results["cold_start"] = cold.measure(ROOT, Path(tmp) / "cold", saved)
            print_cold(results["cold_start"])
        if "stack" not in skip:
            results["local_stack"] = stack.measure(ROOT, Path(tmp), payloads, args.environments)
            stack.print_figures(results["local_stack"])
    args.out.mkdir(parents=True, exist_ok=True)
    written, figure = RECORDED if args.record else (args.out / "results.json", args.out / "performance.png")
    written.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    plot.per_record_figure(results["per_record_us"], results["machine"], figure)
    print(f"\nwrote {written} and {figure} ({results['machine']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
