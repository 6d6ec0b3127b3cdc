"""Cold start from the `sam build` output laid out like Lambda, against a bare `import sklearn.preprocessing`.

Each run is a fresh `python -S -B` whose sys.path holds only the function (/var/task), the layer (/opt/python)
and the runtime's SDK, in Lambda's environment as deployed (LAMBDA_TASK_ROOT and the other variables Lambda sets,
X-Ray on, a sampled request). "With bytecode" uses the build as shipped (unchecked-hash .pyc); "without" copies it
without __pycache__, so every module is compiled from source, as on Lambda when no .pyc is shipped.
"""

from __future__ import annotations

import contextlib
import pickle
import re
import shutil
import statistics
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.warm import BUCKET, FUNCTION_ENV, KEY, route_event
from churn_local.containers.sam_build import sam_build
from churn_local.lambda_runtime.context import LambdaContext
from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.lambda_runtime.runtime import (
    daemon_port,
    lambda_runtime_environment,
    run_like_lambda,
    runner_paths,
    runtime_sdk_packages,
    xray_daemon,
)
from churn_local.services.s3_server import s3_server_holding

MODES = ("bare", "libraries", "lazy", "eager")
IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def tree_size(root: Path) -> int:
    """Return the bytes of every regular file under root, as Lambda counts an unzipped package."""
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def without_bytecode(build: Path, out: Path) -> Path:
    """Copy the function and the layer without any __pycache__."""
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("ChurnFunction", "SklearnLayer"):
        shutil.copytree(build / name, out / name, ignore=ignore, symlinks=True)
    return out


def run_child(
    build: Path, mode: str, runtime: Path, invocation: dict[str, Any], env: dict[str, str], *flags: str
) -> tuple[dict[str, float], str]:
    """Run one cold container and return its timings (and stderr, for -X importtime)."""
    paths = runner_paths(build / "ChurnFunction", build / "SklearnLayer" / "python", runtime)
    request = {"mode": mode, **paths, **invocation, "instant_endpoint": True}
    result, stderr = run_like_lambda(request, env, *flags)
    answer = result.pop("answer", None)
    if answer is not None and answer["statusCode"] != 200:
        raise RuntimeError(f"the {mode} cold container answered {answer}")
    return result, stderr


def import_offenders(stderr: str, top: int = 12) -> dict[str, list[tuple[str, float]]]:
    """Return the top top-level packages by cumulative import time, and the top modules by self time (ms)."""
    packages: dict[str, float] = defaultdict(float)
    modules = []
    for match in IMPORTTIME.finditer(stderr):
        self_us, cumulative_us, indent, name = int(match[1]), int(match[2]), len(match[3]), match[4]
        modules.append((name, self_us / 1000))
        if indent == 1:  # imported by the entry point itself, not by another module
            packages[name.split(".")[0]] += cumulative_us / 1000
    by_package = sorted(packages.items(), key=lambda kv: -kv[1])[:top]
    by_self = sorted(modules, key=lambda kv: -kv[1])[:top]
    return {"top_level_cumulative_ms": by_package, "modules_self_ms": by_self}


def first_invocation() -> dict[str, Any]:
    """Return the first request's API Gateway event and the Lambda context's attributes."""
    return {"event": route_event("/predict", reference_payload()), "context": LambdaContext().attributes()}


@contextlib.contextmanager
def aws_stand_ins(saved: dict[str, Any]) -> Iterator[tuple[str, int]]:
    """Serve S3 (moto's server, holding the transformation) and an X-Ray daemon's socket; yield the URL and port."""
    # Stands in for Lambda's X-Ray daemon: the tracer's segments go to a socket nobody reads, as UDP allows.
    with xray_daemon() as daemon, s3_server_holding(BUCKET, KEY, pickle.dumps(saved)) as url:
        yield url, daemon_port(daemon)


def lambda_environment(build: Path, s3_url: str, daemon_port: int) -> dict[str, str]:
    """Return the function's environment as deployed: Lambda's own variables, X-Ray on (a sampled request)."""
    return {
        **{k: v for k, v in FUNCTION_ENV.items() if k != "POWERTOOLS_TRACE_DISABLED"},
        **lambda_runtime_environment(build / "ChurnFunction", daemon_port),
        "AWS_ENDPOINT_URL_S3": s3_url,
        "AWS_REGION": "us-east-1",
    }


def measure(root: Path, work: Path, saved: dict[str, Any], repeat: int = 5) -> dict[str, Any]:
    """Build, then time each mode's cold containers with and without bytecode; return the table."""
    work.mkdir(parents=True, exist_ok=True)
    build = sam_build(work / "build", root)
    bare_tree = without_bytecode(build, work / "no-bytecode")
    runtime = runtime_sdk_packages(work / "runtime")
    invocation = first_invocation()
    table: dict[str, dict[str, float]] = {}
    with aws_stand_ins(saved) as (s3_url, daemon_port):
        for tree, label, runs in ((build, "bytecode", repeat), (bare_tree, "no bytecode", max(2, repeat // 2))):
            env = lambda_environment(tree, s3_url, daemon_port)
            # Interleaved, so that a neighbour's load on this shared machine falls on every mode alike.
            samples: dict[str, list[dict[str, float]]] = defaultdict(list)
            for _ in range(runs):
                for mode in MODES:
                    samples[mode].append(run_child(tree, mode, runtime, invocation, env)[0])
            for mode, runs_of_mode in samples.items():
                medians = {key: statistics.median(s[key] for s in runs_of_mode) for key in runs_of_mode[0]}
                table[f"{mode}, {label}"] = medians | {"runs": runs}
            if tree == build:
                _, stderr = run_child(build, "lazy", runtime, invocation, env, "-X", "importtime")
    for row in table.values():
        row["total_ms"] = row["init_ms"] + row["first_request_ms"]
    bare = table["bare, bytecode"]["total_ms"]
    sizes = {name: tree_size(build / name) for name in ("ChurnFunction", "SklearnLayer")}
    return {
        "table": table,
        "ratio_lazy_to_bare_sklearn": table["lazy, bytecode"]["total_ms"] / bare,
        "ratio_eager_to_bare_sklearn": table["eager, bytecode"]["total_ms"] / bare,
        "ratio_libraries_to_bare_sklearn": table["libraries, bytecode"]["total_ms"] / bare,
        "importtime": import_offenders(stderr),
        "sizes_bytes": sizes | {"total": sum(sizes.values())},
    }
