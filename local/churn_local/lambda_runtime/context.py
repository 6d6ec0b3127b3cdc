"""The context object the Python Lambda runtime passes to a handler, as awslambdaric's LambdaContext shapes it.

Standard library and churn_local.constants only: the Lambda-like runner (runner.py) imports it in an
interpreter that has nothing else of this project's on sys.path.
"""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime

from churn_local.constants import LOCAL_STACK_NAME, function_arn

# The name CloudFormation gives the stack's function (stack name, logical id, a suffix left out).
FUNCTION_NAME = f"{LOCAL_STACK_NAME}-ChurnFunction"


class LambdaContext:
    """The context of one invocation: names, memory, ids, and the time left before the function's Timeout."""

    def __init__(
        self,
        function_name: str = FUNCTION_NAME,
        *,
        timeout_s: float = 20.0,
        memory_mb: int = 1024,
        invoked_function_arn: str | None = None,
        aws_request_id: str | None = None,
        log_stream_name: str | None = None,
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = invoked_function_arn or function_arn(function_name)
        # The runtime reads it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE, so it is a string there too.
        self.memory_limit_in_mb = str(memory_mb)
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream_name or new_log_stream_name()
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self.timeout_s = timeout_s
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Return the milliseconds left before the function's configured timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def attributes(self) -> dict[str, object]:
        """Return what rebuilds this context in another process (the time left counts from there)."""
        return {
            "function_name": self.function_name,
            "timeout_s": self.get_remaining_time_in_millis() / 1000,
            "memory_mb": int(self.memory_limit_in_mb),
            "invoked_function_arn": self.invoked_function_arn,
            "aws_request_id": self.aws_request_id,
            "log_stream_name": self.log_stream_name,
        }


def new_log_stream_name() -> str:
    """Name a log stream as Lambda does: one per execution environment, from the day it started."""
    return f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{secrets.token_hex(16)}"
