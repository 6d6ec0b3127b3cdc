"""Write reference.json: the cases the pre-traffic check replays on a new version, with this model's answers.

The reference customers of events/ (API Gateway events and direct invocations, valid and invalid, as `sam local
invoke -e` sends them) and REFERENCE_ROWS rows of data/churn.txt in one batch, each with the status the function
answers and, for a scored customer, the score it must give. The scores are made the function's way: churn_api's
transformation writes the CSV, the built-in XGBoost container's contract scores it (services.xgboost_container, as
the local stack does) and churn_api's parser reads it. A version that answers otherwise, beyond TOLERANCE, has a
wrong transformation, model, pairing or code. The sampled rows carry no Phone (it is optional, and never needed).
(training.reference_model is the other oracle: the data scientist's way, sharing no code with the function.)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from churn_api.endpoint import parse_scores
from churn_api.integrity import sha256_hex, unpickle_same_sklearn
from churn_api.models import Customer
from churn_api.preprocessing import Transformation
from churn_api.provenance import model_version
from churn_local.constants import MODEL_ARCHIVE, PROJECT_ROOT, TRANSFORMATION_FILE
from churn_local.services.xgboost_container import XGBoostContainer, load_model_archive
from churn_local.training import dataset

REFERENCE_FILE = "reference.json"
REFERENCE_ROWS = 300
# Scores are float32 from the model, printed and parsed as text on both sides: equal bits, so far below this.
TOLERANCE = 1e-9
EVENTS_DIR = PROJECT_ROOT / "events"
# The API Gateway event every route case is made from (a POST /predict as API Gateway sends it).
API_EVENT = "api-predict.json"
BATCH_ROUTE = "/predict/batch"


class FunctionScorer:
    """Score customers exactly as the deployed function and the built-in XGBoost container would."""

    def __init__(self, artifacts: Path) -> None:
        self.transformation = Transformation.from_mapping(
            unpickle_same_sklearn((artifacts / TRANSFORMATION_FILE).read_bytes())
        )
        self.container = XGBoostContainer(load_model_archive(artifacts / MODEL_ARCHIVE))

    def scores(self, customers: Sequence[Customer]) -> list[float]:
        """Return the function's score for each customer."""
        answer = self.container.invocations(self.transformation.to_csv(customers).encode(), "text/csv", "text/csv")
        return parse_scores(answer.body, len(customers))

    def expect(self, payload: Any) -> dict[str, Any]:
        """Return what the function answers a customer payload: 200 with its score, or 400 VALIDATION_ERROR."""
        try:
            customer = Customer.model_validate(payload)
        except (ValidationError, ValueError):
            return {"status": 400, "code": "VALIDATION_ERROR"}
        if self.transformation.category_problems(customer):
            return {"status": 400, "code": "VALIDATION_ERROR"}
        return {"status": 200, "scores": self.scores([customer])}


def api_event(template: Mapping[str, Any], path: str, body: str) -> dict[str, Any]:
    """Return the template API Gateway event for another route and body."""
    event = copy.deepcopy(dict(template))
    event["resource"] = event["path"] = event["requestContext"]["resourcePath"] = path
    event["requestContext"]["path"] = f"/{event['requestContext'].get('stage', 'Prod')}{path}"
    event["body"] = body
    return event


def sampled_payloads(rows: int = REFERENCE_ROWS) -> list[dict[str, str]]:
    """Return `rows` rows of the data set spread evenly over it, as payloads without Phone."""
    frame = dataset.load()
    step = max(1, len(frame) // rows)
    payloads = [dataset.as_payload(row) for _, row in frame.iloc[::step].head(rows).iterrows()]
    return [{k: v for k, v in p.items() if k != "Phone"} for p in payloads]


def build(artifacts: Path, events_dir: Path = EVENTS_DIR, rows: int = REFERENCE_ROWS) -> dict[str, Any]:
    """Return the reference document for the artifacts: every events/ customer, then one batch of sampled rows."""
    model = FunctionScorer(artifacts)
    template = json.loads((events_dir / API_EVENT).read_text(encoding="utf-8"))
    cases = []
    for path in sorted(events_dir.glob("*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        if path.name.startswith("api-"):
            try:
                payload = json.loads(event["body"])
            except json.JSONDecodeError:
                expect: dict[str, Any] = {"status": 400, "code": "VALIDATION_ERROR"}
            else:
                expect = model.expect(payload)
        elif path.name.startswith("direct-"):
            expect = model.expect(event)
        else:
            continue  # env.json: sam local's variables, not an event
        cases.append({"name": f"events/{path.name}", "event": event, "expect": expect})
    payloads = sampled_payloads(rows)
    batch = api_event(template, BATCH_ROUTE, json.dumps({"customers": payloads}))
    scores = model.scores([Customer.model_validate(p) for p in payloads])
    cases.append(
        {"name": f"data/churn.txt, {len(payloads)} rows", "event": batch, "expect": {"status": 200, "scores": scores}}
    )
    digests = {name: sha256_hex((artifacts / name).read_bytes()) for name in (TRANSFORMATION_FILE, MODEL_ARCHIVE)}
    return {
        "artifacts": digests,
        # The version every answer of a right deployment names (churn_api.provenance).
        "model_version": model_version(digests[TRANSFORMATION_FILE], digests[MODEL_ARCHIVE]),
        "tolerance": TOLERANCE,
        "cases": cases,
    }


def write(artifacts: Path, events_dir: Path = EVENTS_DIR) -> bytes:
    """Write artifacts/reference.json (beside the artifacts it describes); return its bytes."""
    body = (json.dumps(build(artifacts, events_dir), indent=1, sort_keys=True) + "\n").encode()
    (artifacts / REFERENCE_FILE).write_bytes(body)
    return body
