"""Which model answered: its version (a digest of the pinned model and transformation), threshold and variant.

`make publish` computes the version from the artifacts' sha256s (`model_version`) and pins it beside them
(ModelVersion); the function names it in every answer that involved the model, and in the X-Model-Version header.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field

# The response header that names the model version to clients (and, through CORS, to browsers).
MODEL_VERSION_HEADER = "X-Model-Version"
# What a deployment answers when nothing pinned its version (deployed without `make publish`'s parameters).
UNPINNED = "unpinned"
VERSION_LENGTH = 16


def model_version(transformation_sha256: str, model_sha256: str) -> str:
    """Return the model version: a short digest of the transformation's and the model archive's sha256s."""
    pair = f"transformation {transformation_sha256.lower()}\nmodel {model_sha256.lower()}\n"
    return hashlib.sha256(pair.encode()).hexdigest()[:VERSION_LENGTH]


class ModelInfo(BaseModel):
    """The model that gave an answer: which artifacts, which cut-off, and which SageMaker variant where one is named."""

    model_config = ConfigDict(frozen=True)

    version: str = Field(
        description=(
            f"A {VERSION_LENGTH}-hex-digit digest of the pinned model and transformation (`make publish` prints it): "
            f"the same artifacts give the same version everywhere; `{UNPINNED}` when the deployment pinned none. "
            f"The {MODEL_VERSION_HEADER} header carries the same value."
        ),
        examples=["3f2a9c1e5b7d4a60"],
    )
    threshold: float = Field(description="The cut-off applied: churn when score > threshold.", examples=[0.39])
    variant: str | None = Field(
        default=None,
        description="The SageMaker production variant that scored (InvokedProductionVariant), when one is named.",
        examples=["AllTraffic"],
        exclude_if=lambda v: v is None,
    )

    def with_variant(self, variant: str | None) -> ModelInfo:
        """Return this model info naming the variant that scored (itself when there is none)."""
        return self if variant is None or variant == self.variant else self.model_copy(update={"variant": variant})
