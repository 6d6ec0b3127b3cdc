"""`sam build` as `make build` runs it, into a folder of the caller's: for the tests, `make sam-local`'s and the
cold-start benchmarks.

The venv's python3.13 goes first on PATH (sam build's python3.13 workflow and the layer's Makefile look for it there),
telemetry off, and `--no-cached`: a clean build every time, and no .aws-sam/ cache written into the work tree.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from churn_local.constants import PROJECT_ROOT

BUILD_TIMEOUT_S = 900.0


class SamBuildError(RuntimeError):
    """sam build failed; the message holds the end of what it printed."""


def sam_build(out: Path, root: Path = PROJECT_ROOT, *, cached: bool = False) -> Path:
    """Build root's template.yaml (the function and the layer) with root's own venv into out; return out.

    cached=True builds as `make build` does, reusing samconfig's build cache (.aws-sam/cache): for a user's repeated
    `make deploy-emulated`, not for tests.
    """
    bin_dir = root / ".venv" / "bin"
    environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "SAM_CLI_TELEMETRY": "0"}
    command = [str(bin_dir / "sam"), "build", *([] if cached else ["--no-cached"]), "--build-dir", str(out)]
    command += ["--template-file", str(root / "template.yaml")]
    done = subprocess.run(
        command, cwd=root, env=environment, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        raise SamBuildError(f"sam build failed ({done.returncode}):\n{done.stdout[-5000:]}\n{done.stderr[-5000:]}")
    return out
