"""What drift sampling costs a request: `python -m benchmarks.sampling` (docs/model.md, "Drift, deployed").

Two measures, in CPU time on this machine: the sampler alone (one customer, and a batch of 1,000, at 10 % and at 100 %,
its lines written to /dev/null), then the warm handler with sampling off and at 10 %, side by side in one process, run
after run in turn, as benchmarks.warm_versus compares revisions.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import statistics
import time
import timeit
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from benchmarks import warm
from churn_api.models import Customer
from churn_api.provenance import ModelInfo
from churn_api.sampling import DriftSampler
from churn_local.constants import DEFAULT_ARTIFACTS, TRANSFORMATION_FILE
from churn_local.lambda_runtime.context import LambdaContext
from churn_local.training import dataset

MODEL = ModelInfo(version="0123456789abcdef", threshold=0.39)


def best_us(call: Callable[[], Any], number: int) -> float:
    """Return the best of five runs of `number` calls, in microseconds a call (CPU time)."""
    return min(timeit.repeat(call, timer=time.process_time, number=number, repeat=5)) / number * 1e6


def sampler_alone(customers: Sequence[Customer]) -> dict[str, float]:
    """Time the sampler by itself: one customer and a batch of 1,000, at 10 % and 100 %."""
    results: dict[str, float] = {}
    scores = [0.5] * len(customers)
    for rate in (0.1, 1.0):
        sampler = DriftSampler(rate)
        results[f"1 customer at {rate:.0%}"] = best_us(partial(sampler, customers[:1], scores[:1], MODEL), 20_000)
        results[f"1,000 customers at {rate:.0%}"] = best_us(partial(sampler, customers, scores, MODEL), 50)
    return results


def handler_side_by_side(payloads: Sequence[dict[str, str]], rounds: int) -> dict[str, float]:
    """Time the warm handler with sampling off and at 10 %, taken in turn; medians in microseconds."""
    saved = pickle.loads((DEFAULT_ARTIFACTS / TRANSFORMATION_FILE).read_bytes())  # noqa: S301 - trained here
    results: dict[str, float] = {}
    with warm.function_container(saved) as (app, _):
        context = LambdaContext(timeout_s=3600)
        for n in (1, 1_000):
            (event,) = warm.handler_events(payloads[:n])
            runs: dict[str, list[float]] = {"off": [], "10 %": []}
            for _ in range(rounds):
                for name, sampler in (("off", None), ("10 %", DriftSampler(0.1))):
                    app.predictor.on_scored = sampler
                    runs[name].append(warm.median_ms(partial(app.lambda_handler, event, context)) * 1000)
            for name, values in runs.items():
                results[f"handler, {n:,} customer(s), sampling {name}"] = statistics.median(values)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Print both measures (the samples go to /dev/null, as stdout goes to the log in Lambda)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sampling", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="handler runs per side (default: %(default)s)")
    args = parser.parse_args(argv)
    payloads = [dataset.as_payload(row) for _, row in dataset.load().head(1_000).iterrows()]
    customers = [Customer.model_validate(p) for p in payloads]
    with open(os.devnull, "w", encoding="utf-8") as null, contextlib.redirect_stdout(null):
        results = {**sampler_alone(customers), **handler_side_by_side(payloads, args.rounds)}
    for name, us in results.items():
        print(f"{name:<46}{us:>10.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
