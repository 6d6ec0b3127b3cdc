"""Score customers: check categories, preprocess, call the endpoint in chunks, apply the threshold."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from churn_api.errors import ApiError, InvalidRequest
from churn_api.models import Customer, Prediction
from churn_api.preprocessing import Transformation, TransformationStore
from churn_api.scoring import EndpointScorer

# SageMaker real-time InvokeEndpoint accepts at most 6 MB per request; stay well below it.
MAX_CHUNK_BYTES = 5_000_000
DEFAULT_CHUNK_ROWS = 250
MAX_PARALLEL_CALLS = 4


@dataclass(frozen=True)
class Outcome:
    """What became of one record of a batch: a prediction or an error."""

    index: int
    prediction: Prediction | None = None
    error: ApiError | None = None


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
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        on_endpoint_latency: Callable[[float], None] | None = None,
    ) -> None:
        self.transformations = transformations
        self.scorer = scorer
        self.threshold = threshold
        self.chunk_rows = chunk_rows
        self.on_endpoint_latency = on_endpoint_latency

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
        return self._score(transformation, customers)

    def predict_batch(self, records: Sequence[Customer | InvalidRequest]) -> list[Outcome]:
        """Score every valid record; report each invalid one by index without losing the others."""
        transformation = self.transformations.get()
        outcomes: dict[int, Outcome] = {}
        valid: list[tuple[int, Customer]] = []
        for i, record in enumerate(records):
            if isinstance(record, InvalidRequest):
                outcomes[i] = Outcome(i, error=record)
            elif problems := transformation.category_problems(record, i):
                outcomes[i] = Outcome(i, error=InvalidRequest("the record has values the model cannot score", problems))
            else:
                valid.append((i, record))
        if valid:
            predictions = self._score(transformation, [c for _, c in valid])
            outcomes.update((i, Outcome(i, prediction=p)) for (i, _), p in zip(valid, predictions, strict=True))
        return [outcomes[i] for i in range(len(records))]

    def _score(self, transformation: Transformation, customers: Sequence[Customer]) -> list[Prediction]:
        lines = transformation.to_csv(customers).split("\n")
        chunks = chunk([len(line.encode()) for line in lines], self.chunk_rows)

        def call(rows: range) -> tuple[list[float], float]:
            started = time.perf_counter()
            scores = self.scorer.score("\n".join(lines[rows.start : rows.stop]), expected=len(rows))
            return scores, (time.perf_counter() - started) * 1000

        if len(chunks) == 1:
            answers = [call(chunks[0])]
        else:
            # boto3 clients are thread-safe; map() keeps the chunks' order and re-raises the first failure.
            with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_CALLS, len(chunks))) as pool:
                answers = list(pool.map(call, chunks))
        scores: list[float] = []
        for chunk_scores, latency_ms in answers:
            scores.extend(chunk_scores)
            if self.on_endpoint_latency:
                self.on_endpoint_latency(latency_ms)
        return [Prediction.from_score(s, self.threshold) for s in scores]
