"""Score customers: check categories, preprocess, call the endpoint, apply the threshold."""

from __future__ import annotations

from collections.abc import Sequence

from churn_api.errors import InvalidRequest
from churn_api.models import Customer, Prediction
from churn_api.preprocessing import TransformationStore
from churn_api.scoring import EndpointScorer


class ChurnPredictor:
    """Turn validated customers into churn predictions."""

    def __init__(self, transformations: TransformationStore, scorer: EndpointScorer, threshold: float) -> None:
        self.transformations = transformations
        self.scorer = scorer
        self.threshold = threshold

    def predict(self, customers: Sequence[Customer]) -> list[Prediction]:
        """Return one prediction per customer, in input order; any unknown category rejects the request."""
        transformation = self.transformations.get()
        indexed = len(customers) > 1
        problems = [
            p
            for i, customer in enumerate(customers)
            for p in transformation.category_problems(customer, i if indexed else None)
        ]
        if problems:
            raise InvalidRequest("the request has values the model cannot score", problems)
        scores = self.scorer.score(transformation.to_csv(customers), expected=len(customers))
        return [Prediction.from_score(s, self.threshold) for s in scores]
