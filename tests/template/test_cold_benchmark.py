"""`make bench`'s cold containers: every mode starts from the `sam build` output, in Lambda's environment."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from benchmarks import cold
from churn_local.lambda_runtime.runtime import runtime_sdk_packages

pytestmark = pytest.mark.slow


def test_every_cold_start_mode_runs_from_the_build_as_deployed(
    sam_build: Path, trained_artifacts: Path, tmp_path: Path
) -> None:
    # GIVEN the build laid out like Lambda, S3 holding the trained transformation, and Lambda's environment
    saved = pickle.loads((trained_artifacts / "transformation.sav").read_bytes())  # noqa: S301 - trained here
    runtime = runtime_sdk_packages(tmp_path / "runtime")
    invocation = cold.first_invocation()
    with cold.aws_stand_ins(saved) as (s3_url, daemon_port):
        environment = cold.lambda_environment(sam_build, s3_url, daemon_port)
        # WHEN each mode runs once in a fresh process (lazy and eager answer their first request, or the child fails)
        timings = {mode: cold.run_child(sam_build, mode, runtime, invocation, environment)[0] for mode in cold.MODES}
    # THEN every mode reports its phases: the floors import only, the handler's modes answer a request too
    for mode in ("bare", "libraries"):
        assert set(timings[mode]) == {"init_ms", "first_request_ms"}
        assert timings[mode]["init_ms"] > 0
        assert timings[mode]["first_request_ms"] == 0
    for mode in ("lazy", "eager"):
        assert set(timings[mode]) == {"import_ms", "init_ms", "first_request_ms"}
        assert 0 < timings[mode]["import_ms"] <= timings[mode]["init_ms"]
        assert timings[mode]["first_request_ms"] > 0
