"""The answers `make publish` records for the pre-traffic check are exactly what the stack answers with that model.

Each API Gateway case of reference.json goes to the local stack over HTTP (the real handler, the real
transformation, the XGBoost container's contract) and is judged by the pre-traffic hook's own comparison: every
status, code, label and score to 1e-9. A check built on expectations the function cannot meet would fail every
deployment; this is what lets it pass a right version.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pre_traffic

from churn_local.release import reference_cases
from churn_local.template.expansion import default_threshold
from tests.integration.conftest import Stack, send


def test_every_api_case_is_answered_by_the_stack_exactly_as_recorded(
    stack: Stack, trained_artifacts: Path, tmp_path: Path
) -> None:
    for name in ("transformation.sav", "model.tar.gz"):
        shutil.copy(trained_artifacts / name, tmp_path / name)
    document = json.loads(reference_cases.write(tmp_path))
    api_cases = [case for case in document["cases"] if "httpMethod" in case["event"]]
    assert {case["expect"]["status"] for case in api_cases} == {200, 400}
    problems = []
    for case in api_cases:
        event = case["event"]
        headers = {name.replace("-", "_"): value for name, value in event["headers"].items() if name.lower() != "host"}
        reply = send(event["httpMethod"], f"{stack.api_url}{event['path']}", event["body"], **headers)
        answer = pre_traffic.problems_of(
            reply.status, reply.json(), case["expect"], default_threshold(), document["tolerance"]
        )
        problems += [f"{case['name']}: {problem}" for problem in answer]
    assert problems == []
    assert document["tolerance"] == 1e-9
