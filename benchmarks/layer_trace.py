"""Trace which numpy/scipy/scikit-learn subpackages the function never imports: `python -m benchmarks.layer_trace`.

Builds the layer without pruning (layer/Makefile with UNUSED=/dev/null), runs the real load from it in a
Lambda-like process (tests/template/lambda_like_run.py: the handler module imported, the transformation with a
dense and with a sparse-output encoder unpickled, compiled, verified and used) and prints, for
layer/unused-subpackages.txt, every package in which no module was imported although its parent package was,
with its size. Run it after changing the layer's versions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from sklearn.preprocessing import OneHotEncoder

from churn_local.training import dataset
from churn_local.training.transformation import dumps, fit_transformation
from tests.support import reference_payload

ROOT = dataset.PROJECT_ROOT
RUN = ROOT / "tests" / "template" / "lambda_like_run.py"
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
        (work / "payloads.json").write_text(json.dumps([reference_payload()]), encoding="utf-8")
        (work / "event.json").write_text(json.dumps({"State": "SC"}), encoding="utf-8")  # a direct invocation
        purelib = sysconfig.get_paths()["purelib"]
        layer = work / "layer" / "python"
        arguments = [str(ROOT / "src"), str(layer), purelib, str(work / "event.json"), str(work / "payloads.json")]
        env = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "ENDPOINT_NAME": "trace",
               "TRANSFORM_BUCKET": "trace", "TRANSFORM_KEY": "trace", "THRESHOLD": "0.39",
               "POWERTOOLS_TRACE_DISABLED": "true"}  # fmt: skip
        command = [sys.executable, "-S", "-B", str(RUN), *arguments, "/dev/null", *map(str, paths)]
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=300)
        (line,) = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
        imported = set(json.loads(line.removeprefix("REPORT "))["imported"])
        found = unused_packages(layer, imported)
    for name, size in found:
        print(f"{name:<50} {size / 1e6:6.2f} MB", file=sys.stderr)
    print("\n".join(name for name, _ in found))
    print(f"{len(found)} packages, {sum(s for _, s in found) / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
