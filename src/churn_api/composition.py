"""Build the scoring objects from the function's settings: one recipe for the API, bulk scoring and the local CLI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from churn_api.config import Settings
from churn_api.endpoint import EndpointScorer
from churn_api.integrity import Expectations
from churn_api.predictor import ChurnPredictor
from churn_api.preprocessing import TransformationStore
from churn_api.sampling import DriftSampler


def transformation_store(
    settings: Settings, s3_client: Any, *, on_loaded: Callable[[], None] | None = None
) -> TransformationStore:
    """Return the store that loads and verifies the pinned transformation (sha256, owner, feature signature)."""
    return TransformationStore(
        s3_client,
        settings.transform_bucket,
        settings.transform_key,
        expected=Expectations(settings.transform_sha256, settings.feature_signature),
        bucket_owner=settings.bucket_owner,
        on_loaded=on_loaded,
    )


def churn_predictor(
    settings: Settings,
    transformations: TransformationStore,
    sagemaker_runtime: Any,
    *,
    on_endpoint_latency: Callable[[float], None] | None = None,
) -> ChurnPredictor:
    """Return the predictor that scores against the configured endpoint with the configured threshold, naming the
    pinned model version, and sampling for the drift check when a sample rate is set (nothing to call otherwise)."""
    return ChurnPredictor(
        transformations,
        EndpointScorer(sagemaker_runtime, settings.endpoint_name),
        settings.threshold,
        max_chunk_bytes=settings.max_chunk_bytes,
        on_endpoint_latency=on_endpoint_latency,
        version=settings.model_version,
        on_scored=DriftSampler(settings.sample_rate) if settings.sample_rate else None,
    )
