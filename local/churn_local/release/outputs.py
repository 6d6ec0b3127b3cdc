"""What a deployed stack says about itself through CloudFormation: its outputs, its parameters and its API's URL.

The way SAM's own project templates find what to test (`AWS_SAM_STACK_NAME`, then DescribeStacks): used by
`make deploy-emulated` to print the URL and by the end-to-end tests to find their target, against real AWS or any
engine the standard AWS variables point at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class StackNotFound(LookupError):
    """The stack does not exist (or is gone), or has not finished deploying."""


@dataclass(frozen=True)
class StackInfo:
    """One stack as DescribeStacks answers it."""

    name: str
    status: str
    outputs: Mapping[str, str]
    parameters: Mapping[str, str]

    @property
    def stage(self) -> str:
        """Return the API's stage: the first path segment of its URLs."""
        return urlsplit(self.outputs["PredictUrl"]).path.strip("/").split("/")[0]

    def api_url(self, endpoint_url: str | None = None) -> str:
        """Return the API's base URL (no trailing slash): the stack's own, or where an engine serves it.

        With an AWS endpoint override (AWS_ENDPOINT_URL, the standard variable for "AWS is over there"), the
        execute-api host of the outputs does not exist: engines compatible with LocalStack serve the same API at
        ENDPOINT/_aws/execute-api/<api id>/<stage>. Without one, the output's own https URL.
        """
        if endpoint_url:
            return f"{endpoint_url.rstrip('/')}/_aws/execute-api/{self.outputs['ChurnApiId']}/{self.stage}"
        return self.outputs["PredictUrl"].removesuffix("/predict")


def describe(cloudformation: Any, name: str) -> StackInfo:
    """Return the stack's outputs and parameters; raise StackNotFound unless it exists."""
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except cloudformation.exceptions.ClientError as exc:
        if "does not exist" in str(exc):
            raise StackNotFound(f"stack {name} does not exist") from exc
        raise
    if not stacks:
        raise StackNotFound(f"stack {name} does not exist")
    stack = stacks[0]
    return StackInfo(
        name=name,
        status=str(stack.get("StackStatus", "")),
        outputs={item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])},
        parameters={item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters", [])},
    )
