"""Trace which numpy/scipy/scikit-learn subpackages the function never imports: `python -m benchmarks.layer_trace`.

Builds the layer without pruning (layer/Makefile with UNUSED=/dev/null), runs the real load from it in a
Lambda-like process (local/churn_local/lambda_runtime/runner.py: the handler module imported, the transformation with a
dense and with a sparse-output encoder unpickled, compiled, verified and used) and prints, for
layer/unused-subpackages.txt, every package in which no module was imported although its parent package was,
with its size. Run it after changing the layer's versions.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from sklearn.preprocessing import OneHotEncoder

from churn_local.constants import PROJECT_ROOT
from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.lambda_runtime.runtime import handler_environment, run_like_lambda, runner_paths
from churn_local.training import dataset
from churn_local.training.transformation import dumps, fit_transformation

ROOT = PROJECT_ROOT
TRACED = ("numpy", "scipy", "sklearn")


def unused_packages(layer: Path, imported: set[str]) -> list[tuple[str, int]]:
    """Return (package, bytes) for each package with no imported module whose parent was imported."""
    found = []
    for top in TRACED:
        for init in sorted((layer / top).rglob("__init__.py")):
            name = ".".join(init.parent.relative_to(layer).parts)
            if name in imported or any(m.startswith(name + ".") for m in imported):
                continue
            if name.rsplit(".", 1)[0] in imported:
                size = sum(p.stat().st_size for p in init.parent.rglob("*") if p.is_file())
                found.append((name, size))
    return found


def main() -> int:
    """Build, trace and print the list."""
    with tempfile.TemporaryDirectory(prefix="churn-layer-trace-") as tmp:
        work = Path(tmp)
        build = ["make", "-C", str(ROOT / "layer"), "build-SklearnLayer", f"ARTIFACTS_DIR={work / 'layer'}"]
        # layer/Makefile byte-compiles with the python3 first on PATH: this venv's CPython 3.13.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        subprocess.run([*build, "UNUSED=/dev/null"], check=True, env={**os.environ, "PATH": path}, stdout=sys.stderr)
        frame = dataset.load()
        saved = fit_transformation(frame)
        sparse = {**saved, "One_Hot": OneHotEncoder(sparse_output=True).fit(frame[dataset.OBJ_COLS])}
        paths = []
        for i, transformation in enumerate((saved, sparse)):
            paths.append(work / f"transformation-{i}.sav")
            paths[-1].write_bytes(dumps(transformation))
        purelib = Path(sysconfig.get_paths()["purelib"])
        layer = work / "layer" / "python"
        request = {
            "mode": "report",
            **runner_paths(ROOT / "src", layer, purelib),
            "event": {"State": "SC"},  # a direct invocation
            "payloads": [reference_payload()],
            "transformations": [str(path) for path in paths],
        }
        env = {**handler_environment(), "PATH": "/usr/bin:/bin", "POWERTOOLS_TRACE_DISABLED": "true"}
        report, _ = run_like_lambda(request, env)
        imported = set(report["imported"])
        found = unused_packages(layer, imported)
    for name, size in found:
        print(f"{name:<50} {size / 1e6:6.2f} MB", file=sys.stderr)
    print("\n".join(name for name, _ in found))
    print(f"{len(found)} packages, {sum(s for _, s in found) / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
