"""Readiness: is the transformation loadable, is the SageMaker endpoint InService (and, where the stack hosts the model,
does it serve the pinned model), found out within seconds?"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from churn_api.budget import READY_BUDGET_S, Deadline, in_background
from churn_api.errors import ApiError
from churn_api.models import EndpointState, Readiness, ServedModel, TransformationState
from churn_api.preprocessing import TransformationStore
from churn_api.provenance import ModelInfo

log = logging.getLogger(__name__)
# What readiness answers when DescribeEndpoint gives no EndpointStatus: it refused (no such endpoint, no permission)
# or could not be asked in time. Which endpoint and why are logged, never answered: the route needs no key.
UNAVAILABLE = "Unavailable"
UNREACHABLE = "Unreachable"


class ReadinessCheck:
    """Answer whether this container can score right now, and why not, within READY_BUDGET_S."""

    def __init__(
        self,
        transformations: TransformationStore,
        make_sagemaker: Callable[[], Any],
        endpoint_name: str,
        *,
        model: ModelInfo | None = None,
        model_data_url: str = "",
    ) -> None:
        self.transformations = transformations
        self.make_sagemaker = make_sagemaker
        self.sagemaker: Any = None  # the control-plane client, made by the first check: nothing else needs it
        self.endpoint_name = endpoint_name
        self.model = model
        # Set where the stack hosts the model: the endpoint must then serve exactly this archive.
        self.model_data_url = model_data_url

    def check(self, deadline: Deadline) -> Readiness:
        """Load the transformation if needed while describing the endpoint; report both, within READY_BUDGET_S."""
        deadline = deadline.sooner(READY_BUDGET_S)
        described = in_background(self._endpoint)
        try:
            self.transformations.get(deadline)
            transformation = TransformationState(loaded=True)
        except ApiError as exc:
            transformation = TransformationState(loaded=False, error=exc.code)
        try:
            status, served = described.result(timeout=deadline.remaining())
        except FutureTimeout:
            log.warning("readiness: DescribeEndpoint of %s did not answer in time", self.endpoint_name)
            status, served = UNREACHABLE, None if not self.model_data_url else False
        ready = transformation.loaded and status == "InService" and served is not False
        model = (
            ServedModel(version=self.model.version, threshold=self.model.threshold, served=served)
            if self.model is not None
            else None
        )
        return Readiness(
            status="ready" if ready else "not ready",
            transformation=transformation,
            endpoint=EndpointState(status=status),
            model=model,
        )

    def _endpoint(self) -> tuple[str, bool | None]:
        """Return the endpoint's status and whether it serves the pinned model (None: nothing pinned to check)."""
        status, config_name = self._endpoint_status()
        if not self.model_data_url:
            return status, None
        return status, config_name is not None and self._serves_pinned_model(config_name)

    def _serves_pinned_model(self, config_name: str) -> bool:
        """Follow the endpoint's configuration to each variant's model: do all load the pinned archive?"""
        try:
            variants = self.sagemaker.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"]
            urls = [model_data_url(self.sagemaker.describe_model(ModelName=v["ModelName"])) for v in variants]
        except (ClientError, BotoCoreError, KeyError) as exc:
            log.warning("readiness: the model of %s cannot be described (%s)", self.endpoint_name, type(exc).__name__)
            return False
        if not urls or any(url != self.model_data_url for url in urls):
            log.warning("readiness: %s serves another model than the pinned one", self.endpoint_name)
            return False
        return True

    def _endpoint_status(self) -> tuple[str, str | None]:
        if self.sagemaker is None:
            self.sagemaker = self.make_sagemaker()
        try:
            described = self.sagemaker.describe_endpoint(EndpointName=self.endpoint_name)
        except ClientError as exc:
            # DescribeEndpoint answers ValidationException "Could not find endpoint ..." for an unknown name.
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            log.warning("readiness: DescribeEndpoint of %s refused (%s)", self.endpoint_name, code)
            return UNAVAILABLE, None
        except BotoCoreError as exc:
            log.warning("readiness: DescribeEndpoint of %s failed (%s)", self.endpoint_name, type(exc).__name__)
            return UNREACHABLE, None
        return str(described.get("EndpointStatus", "Unknown")), described.get("EndpointConfigName")


def model_data_url(described: dict[str, Any]) -> str:
    """Return the model data URL of a DescribeModel answer: its primary container's, or its first container's."""
    container = described.get("PrimaryContainer") or (described.get("Containers") or [{}])[0]
    source = container.get("ModelDataSource", {}).get("S3DataSource", {}).get("S3Uri")
    return str(container.get("ModelDataUrl") or source or "")
