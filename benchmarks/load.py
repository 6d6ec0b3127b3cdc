"""`make load`: locust, headless, against a running stack (`make serve`), with every score checked.

32 clients mix single customers (/predict), batches of 25 (/predict/batch) and invalid bodies (which must get a
400). Each score is compared with the model's own XGBoost prediction for that row, computed here from the same
artifacts the stack serves. Prints requests/s, p50/p99 and the error counts; exits 1 on any 5xx, wrong answer or
unexpected status. tests/integration/test_load.py runs a small one inside `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from churn_local.training import dataset
from churn_local.training.reference_model import ReferenceModel

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
LOCUST = Path(sys.executable).with_name("locust")
FAILURE_COUNTS = ("server_errors", "wrong_answers", "unexpected_status")


def cases(artifacts: Path) -> dict[str, Any]:
    """Return every real row as a payload, with the model's own score for it."""
    frame = dataset.load()
    payloads = [dataset.as_payload(row) for _, row in frame.iterrows()]
    return {"payloads": payloads, "scores": ReferenceModel(artifacts).scores(payloads)}


def run(api_url: str, artifacts: Path, *, users: int = 32, requests: int = 0, run_time: str = "30s") -> dict[str, Any]:
    """Run locust headless against api_url and return its summary (requests=0: until run_time)."""
    with tempfile.TemporaryDirectory(prefix="churn-load-") as tmp:
        cases_path, report_path = Path(tmp) / "cases.json", Path(tmp) / "report.json"
        cases_path.write_text(json.dumps(cases(artifacts)), encoding="utf-8")
        env = {
            **os.environ,
            "CHURN_LOAD_CASES": str(cases_path),
            "CHURN_LOAD_REPORT": str(report_path),
            "CHURN_LOAD_REQUESTS": str(requests),
            "CHURN_LOAD_USERS": str(users),
        }
        command = [str(LOCUST), "-f", str(LOCUSTFILE), "--headless", "--host", api_url, "--users", str(users)]
        command += ["--spawn-rate", str(users), "--run-time", run_time, "--only-summary", "--loglevel", "WARNING"]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
        if not report_path.exists():
            raise RuntimeError(f"locust wrote no report ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
    report["users"] = users
    return report


def main(argv: list[str]) -> int:
    """Load the stack and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    parser.add_argument("--api", default="http://127.0.0.1:3000", help="the running stack's API (make serve)")
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="what the stack serves")
    parser.add_argument("--users", type=int, default=32, help="concurrent clients")
    parser.add_argument("--run-time", default="30s", help="how long to run (locust's format: 30s, 2m)")
    args = parser.parse_args(argv)
    report = run(args.api, args.artifacts, users=args.users, run_time=args.run_time)
    print(f"{report['users']} clients against {args.api} for {args.run_time}:")
    print(f"  {report['requests']} requests, {report['requests_per_s']:.0f} requests/s, "
          f"p50 {report['p50_ms']:.0f} ms, p99 {report['p99_ms']:.0f} ms")  # fmt: skip
    print(f"  invalid bodies refused with 400: {report['invalid_refused']}")
    print("  " + ", ".join(f"{name.replace('_', ' ')}: {report[name]}" for name in FAILURE_COUNTS))
    return 1 if any(report[name] for name in FAILURE_COUNTS) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
