"""Score customers: check categories, preprocess, call the endpoint in chunks under one deadline, apply threshold."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from pydantic import ValidationError

from churn_api.budget import Deadline, within
from churn_api.endpoint import EndpointScorer
from churn_api.errors import ApiError, InvalidRequest, ModelTimeout, PayloadTooLarge, problems_from
from churn_api.models import BatchResponse, Customer, Prediction, customers_from, verdict
from churn_api.preprocessing import Transformation, TransformationStore
from churn_api.provenance import UNPINNED, ModelInfo
from churn_api.rules import MAX_BATCH_SIZE

# InvokeEndpoint accepts at most 6 MB per request on a real-time endpoint and 4 MB on a serverless one (SageMaker
# endpoint quotas): the deployment passes its own limit; the default suits a real-time endpoint.
MAX_CHUNK_BYTES = 5_000_000
DEFAULT_CHUNK_ROWS = 250
MAX_PARALLEL_CALLS = 4


def chunk(line_sizes: Sequence[int], max_rows: int, max_bytes: int = MAX_CHUNK_BYTES) -> list[range]:
    """Split rows into consecutive chunks of at most `max_rows` rows and `max_bytes` bytes (newlines included)."""
    chunks: list[range] = []
    start, size = 0, 0
    for i, line in enumerate(line_sizes):
        if line + 1 > max_bytes:
            raise ValueError(f"row {i} alone is {line} bytes, over the {max_bytes}-byte request limit")
        if i > start and (i - start >= max_rows or size + line + 1 > max_bytes):
            chunks.append(range(start, i))
            start, size = i, 0
        size += line + 1
    if start < len(line_sizes):
        chunks.append(range(start, len(line_sizes)))
    return chunks


class ChurnPredictor:
    """Turn validated customers into churn predictions."""

    def __init__(
        self,
        transformations: TransformationStore,
        scorer: EndpointScorer,
        threshold: float,
        *,
        max_chunk_bytes: int = MAX_CHUNK_BYTES,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        on_endpoint_latency: Callable[[float], None] | None = None,
        version: str = UNPINNED,
        on_scored: Callable[[Sequence[Customer], Sequence[float], ModelInfo], None] | None = None,
    ) -> None:
        self.transformations = transformations
        self.scorer = scorer
        self.threshold = threshold
        # Named in every answer, and in every error raised once the request reached the model.
        self.model = ModelInfo(version=version, threshold=threshold)
        self._by_variant: dict[str | None, ModelInfo] = {None: self.model}
        self.max_chunk_bytes = max_chunk_bytes
        self.chunk_rows = chunk_rows
        self.on_endpoint_latency = on_endpoint_latency
        # What the customers scored and their scores are handed to (drift sampling); None costs nothing.
        self.on_scored = on_scored

    def predict_one(self, customer: Customer, deadline: Deadline) -> Prediction:
        """Score one customer; an unknown category is a 400 naming the field."""
        try:
            transformation = self.transformations.get(deadline)
            # The batch's own question (Transformation.unknown_categories), asked of one customer with no index.
            if problems := transformation.unknown_categories([customer], [None]).get(None):
                raise InvalidRequest("the request has values the model cannot score", problems)
            scores, variants = self._score(transformation, [customer], deadline)
        except ApiError as exc:
            exc.model = self.model
            raise
        return Prediction.from_score(scores[0], self._named(variants[0]))

    def score_batch(self, records: Sequence[Any], deadline: Deadline) -> BatchResponse:
        """Score every valid record in input order, reporting each invalid one by index without losing the others."""
        if len(records) > MAX_BATCH_SIZE:
            raise PayloadTooLarge(f"a batch holds at most {MAX_BATCH_SIZE} customers, this one has {len(records)}")
        results, errors, model = self.score_records(records, deadline)
        if len(errors) == len(records):
            error = InvalidRequest("no customer in the batch is valid", [d for e in errors for d in e.details])
            error.model = self.model
            raise error
        return BatchResponse.model_validate(
            {
                "results": results,
                "scored": len(records) - len(errors),
                "failed": len(errors),
                "threshold": self.threshold,
                "model": model,
            }
        )

    def score_records(
        self, records: Sequence[Any], deadline: Deadline, *, indexes: Sequence[int] | None = None
    ) -> tuple[list[dict[str, Any]], list[ApiError], ModelInfo]:
        """Return each record's batch result (index, churn, label, score, or error) in input order, the errors, and
        the model that scored them (naming the variant when one scored them all; else each result names its own).

        The one path from raw records to per-record answers: /predict/batch and bulk scoring (churn_api.bulk) both
        take it. A record's index (in its result and its error details) is its place in the list, or in `indexes` (its
        place in a file, for bulk scoring).
        A record that cannot be scored gets its error; a fault of S3 or the endpoint raises for all of them.
        """
        try:
            return self._score_records(records, deadline, indexes)
        except ApiError as exc:
            exc.model = self.model
            raise

    def _score_records(
        self, records: Sequence[Any], deadline: Deadline, indexes: Sequence[int] | None
    ) -> tuple[list[dict[str, Any]], list[ApiError], ModelInfo]:
        transformation = self.transformations.get(deadline)
        errors: dict[int, ApiError] = {}
        valid: list[Customer] = []
        valid_at: list[int] = []
        places = range(len(records)) if indexes is None else indexes
        for i, customer in zip(places, customers_from(list(records)), strict=True):
            if isinstance(customer, ValidationError):
                errors[i] = InvalidRequest("the record is not a valid customer", problems_from(customer.errors(), i))
            else:
                valid.append(customer)
                valid_at.append(i)
        if valid and (unknown := transformation.unknown_categories(valid, valid_at)):
            for i, problems in unknown.items():
                errors[i] = InvalidRequest("the record has values the model cannot score", problems)
            valid = [customer for i, customer in zip(valid_at, valid, strict=True) if i not in unknown]
            valid_at = [i for i in valid_at if i not in unknown]
            errors = dict(sorted(errors.items()))  # in input order, as clients read them
        # In input order, as the valid records; nothing to send when none is valid.
        scores, variants = self._score(transformation, valid, deadline) if valid else ([], [None])
        # Plain dicts, validated once by the caller's model (the route's response, bulk's items), not one per item.
        results: list[dict[str, Any]] = [{"index": i, "error": e.info()} for i, e in errors.items()]
        results += [{"index": i, **verdict(score, self.threshold)} for i, score in zip(valid_at, scores, strict=True)]
        model = self._named(variants[0]) if len(variants) == 1 else self.model
        if len(variants) > 1:  # several variants scored the chunks: each record names its own
            for item, variant in zip(results[len(errors) :], variants, strict=True):
                item["variant"] = variant
        if errors and valid:
            results.sort(key=itemgetter("index"))
        return results, list(errors.values()), model

    def _named(self, variant: str | None) -> ModelInfo:
        """Return the model naming the variant that scored (made once per variant: SageMaker names few)."""
        if (model := self._by_variant.get(variant)) is None:
            model = self._by_variant[variant] = self.model.with_variant(variant)
        return model

    def _score(
        self, transformation: Transformation, customers: Sequence[Customer], deadline: Deadline
    ) -> tuple[list[float], list[str | None]]:
        """Return the customers' scores, and the variant that scored them: one, or one per customer if several did."""
        csv = transformation.to_csv(customers)
        lines = csv.split("\n")
        # The CSV is ASCII (numbers and commas), so characters are bytes; encoding each line would cost the same.
        sizes = list(map(len, lines)) if csv.isascii() else [len(line.encode()) for line in lines]
        chunks = chunk(sizes, self.chunk_rows, self.max_chunk_bytes)

        def call(rows: range) -> Callable[[], tuple[tuple[list[float], str | None], float]]:
            def invoke() -> tuple[tuple[list[float], str | None], float]:
                started = time.perf_counter()
                scored = self.scorer.score_with_variant("\n".join(lines[rows.start : rows.stop]), len(rows), deadline)
                return scored, (time.perf_counter() - started) * 1000

            return invoke

        # One deadline for every chunk; the first failure answers the client without waiting for the others.
        answers = within(
            deadline,
            [call(rows) for rows in chunks],
            lambda: ModelTimeout(internal="no answer within the request's time budget"),
            parallel=MAX_PARALLEL_CALLS,
        )
        scores: list[float] = []
        variants: list[str | None] = []
        for (chunk_scores, variant), latency_ms in answers:
            scores.extend(chunk_scores)
            variants.append(variant)
            if self.on_endpoint_latency:
                self.on_endpoint_latency(latency_ms)
        if self.on_scored:
            self.on_scored(customers, scores, self.model)
        if len(set(variants)) == 1:
            return scores, variants[:1]
        return scores, [variant for rows, variant in zip(chunks, variants, strict=True) for _ in rows]
