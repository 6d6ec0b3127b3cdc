"""Locust users for `make load`: single customers, batches and invalid bodies, every score checked.

Run by benchmarks/load.py (`locust --headless -f benchmarks/locustfile.py`), never imported by pytest: locust
monkey-patches the standard library with gevent on import. The driver passes, through the environment, a JSON
file of payloads with the model's own score for each (CHURN_LOAD_CASES), how many requests to send in all
(CHURN_LOAD_REQUESTS) and where to write the summary (CHURN_LOAD_REPORT).
"""

from __future__ import annotations

import itertools
import json
import os
import random
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser

CASES = json.loads(open(os.environ["CHURN_LOAD_CASES"], encoding="utf-8").read())  # noqa: SIM115
PAYLOADS: list[dict[str, Any]] = CASES["payloads"]
EXPECTED: list[float] = CASES["scores"]
TOLERANCE = 1e-6
BATCH = 25
BUDGET = int(os.environ.get("CHURN_LOAD_REQUESTS", "0")) or None
SENT = itertools.count(1)
USERS = int(os.environ.get("CHURN_LOAD_USERS", "0"))
STOPPED = itertools.count(1)
COUNTS = {"server_errors": 0, "wrong_answers": 0, "unexpected_status": 0, "invalid_refused": 0}


def take_turn() -> None:
    """Stop this user, after its last answer came back, once the run's request budget is spent."""
    if BUDGET is not None and next(SENT) > BUDGET:
        raise StopUser()


class ApiClient(FastHttpUser):
    """A client of the API: mostly single customers, some batches, some broken bodies."""

    wait_time = constant(0)

    def on_stop(self) -> None:
        """End the run when the last user has stopped on the budget: every request sent was answered."""
        if BUDGET is not None and next(STOPPED) == USERS and self.environment.runner is not None:
            gevent.spawn(self.environment.runner.quit)

    def judge(self, response: Any, indices: list[int]) -> None:
        """Fail the request on a 5xx, another status than 200, or any score off the model's own."""
        if response.status_code >= 500:
            COUNTS["server_errors"] += 1
            response.failure(f"server error {response.status_code}")
            return
        if response.status_code != 200:
            COUNTS["unexpected_status"] += 1
            response.failure(f"status {response.status_code}")
            return
        body = response.json()
        scores = [r["score"] for r in body["results"]] if "results" in body else [body["score"]]
        wrong = [i for i, s in zip(indices, scores, strict=True) if abs(s - EXPECTED[i]) > TOLERANCE]
        if len(scores) != len(indices) or wrong:
            COUNTS["wrong_answers"] += len(wrong) or 1
            response.failure(f"wrong scores for rows {wrong[:5]}")

    @task(6)
    def one_customer(self) -> None:
        """POST one customer to /predict."""
        take_turn()
        i = random.randrange(len(PAYLOADS))
        with self.client.post("/predict", json=PAYLOADS[i], catch_response=True, name="/predict") as response:
            self.judge(response, [i])

    @task(2)
    def a_batch(self) -> None:
        """POST a batch of consecutive customers to /predict/batch."""
        take_turn()
        start = random.randrange(len(PAYLOADS) - BATCH)
        indices = list(range(start, start + BATCH))
        body = {"customers": [PAYLOADS[i] for i in indices]}
        with self.client.post("/predict/batch", json=body, catch_response=True, name="/predict/batch") as response:
            self.judge(response, indices)

    @task(2)
    def an_invalid_body(self) -> None:
        """POST a customer with a non-numeric amount: a 400, never a 5xx."""
        take_turn()
        payload = {**random.choice(PAYLOADS), "Day Mins": "lots"}
        with self.client.post("/predict", json=payload, catch_response=True, name="/predict (invalid)") as response:
            if response.status_code == 400:
                COUNTS["invalid_refused"] += 1
                response.success()
            else:
                COUNTS["server_errors" if response.status_code >= 500 else "unexpected_status"] += 1
                response.failure(f"status {response.status_code} for an invalid body")


@events.quitting.add_listener
def write_report(environment: Any, **_: Any) -> None:
    """Write the run's figures where the driver reads them."""
    total = environment.stats.total
    report = {
        "requests": total.num_requests,
        "failures": total.num_failures,
        "requests_per_s": total.total_rps,
        "p50_ms": total.get_response_time_percentile(0.5),
        "p99_ms": total.get_response_time_percentile(0.99),
        **COUNTS,
    }
    with open(os.environ["CHURN_LOAD_REPORT"], "w", encoding="utf-8") as stream:
        json.dump(report, stream)
