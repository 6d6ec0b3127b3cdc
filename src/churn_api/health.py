"""Readiness: is the transformation loadable and is the SageMaker endpoint InService?"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from churn_api.errors import ApiError
from churn_api.preprocessing import TransformationStore


class ReadinessCheck:
    """Answer whether this container can score right now, and why not."""

    def __init__(self, transformations: TransformationStore, sagemaker: Any, endpoint_name: str) -> None:
        self.transformations = transformations
        self._sagemaker = sagemaker
        self.endpoint_name = endpoint_name

    def check(self) -> dict[str, Any]:
        """Load the transformation if needed and describe the endpoint; report both."""
        transformation: dict[str, Any] = {"loaded": False}
        try:
            self.transformations.get()
            transformation["loaded"] = True
        except ApiError as exc:
            transformation["error"] = exc.code
        endpoint: dict[str, Any] = {"name": self.endpoint_name, "status": self._endpoint_status()}
        ready = transformation["loaded"] and endpoint["status"] == "InService"
        return {"status": "ready" if ready else "not ready", "transformation": transformation, "endpoint": endpoint}

    def _endpoint_status(self) -> str:
        try:
            described = self._sagemaker.describe_endpoint(EndpointName=self.endpoint_name)
        except ClientError as exc:
            # DescribeEndpoint answers ValidationException "Could not find endpoint ..." for an unknown name.
            return f"Unavailable ({exc.response.get('Error', {}).get('Code', 'Unknown')})"
        except BotoCoreError:
            return "Unreachable"
        return str(described.get("EndpointStatus", "Unknown"))
