"""Readiness: is the transformation loadable and is the SageMaker endpoint InService, found out within seconds?"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from churn_api.budget import READY_BUDGET_S, Deadline, in_background
from churn_api.errors import ApiError
from churn_api.models import EndpointState, Readiness, TransformationState
from churn_api.preprocessing import TransformationStore

log = logging.getLogger(__name__)
# What readiness answers when DescribeEndpoint gives no EndpointStatus: it refused (no such endpoint, no permission)
# or could not be asked in time. Which endpoint and why are logged, never answered: the route needs no key.
UNAVAILABLE = "Unavailable"
UNREACHABLE = "Unreachable"


class ReadinessCheck:
    """Answer whether this container can score right now, and why not, within READY_BUDGET_S."""

    def __init__(
        self, transformations: TransformationStore, make_sagemaker: Callable[[], Any], endpoint_name: str
    ) -> None:
        self.transformations = transformations
        self.make_sagemaker = make_sagemaker
        self.sagemaker: Any = None  # the control-plane client, made by the first check: nothing else needs it
        self.endpoint_name = endpoint_name

    def check(self, deadline: Deadline) -> Readiness:
        """Load the transformation if needed while describing the endpoint; report both, within READY_BUDGET_S."""
        deadline = deadline.sooner(READY_BUDGET_S)
        described = in_background(self._endpoint_status)
        try:
            self.transformations.get(deadline)
            transformation = TransformationState(loaded=True)
        except ApiError as exc:
            transformation = TransformationState(loaded=False, error=exc.code)
        try:
            status = described.result(timeout=deadline.remaining())
        except FutureTimeout:
            log.warning("readiness: DescribeEndpoint of %s did not answer in time", self.endpoint_name)
            status = UNREACHABLE
        ready = transformation.loaded and status == "InService"
        return Readiness(
            status="ready" if ready else "not ready",
            transformation=transformation,
            endpoint=EndpointState(status=status),
        )

    def _endpoint_status(self) -> str:
        if self.sagemaker is None:
            self.sagemaker = self.make_sagemaker()
        try:
            described = self.sagemaker.describe_endpoint(EndpointName=self.endpoint_name)
        except ClientError as exc:
            # DescribeEndpoint answers ValidationException "Could not find endpoint ..." for an unknown name.
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            log.warning("readiness: DescribeEndpoint of %s refused (%s)", self.endpoint_name, code)
            return UNAVAILABLE
        except BotoCoreError as exc:
            log.warning("readiness: DescribeEndpoint of %s failed (%s)", self.endpoint_name, type(exc).__name__)
            return UNREACHABLE
        return str(described.get("EndpointStatus", "Unknown"))
