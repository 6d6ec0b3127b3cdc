"""One cold container: `python -S -B cold_start.py MODE TASK_ROOT LAYER RUNTIME INVOCATION` prints its timings.

MODE is `bare` (only `import sklearn.preprocessing`, the floor any scikit-learn function pays), `libraries` (that,
then the libraries the function is built on: Powertools' logger, metrics, tracer with the X-Ray SDK, REST event
handler with its OpenAPI validation, pydantic and boto3: the floor of any function written with them), `lazy`
(import the handler module, then the first request loads the transformation, as the function does today) or
`eager` (import, then load during init, then the first request). Only the function, the layer and the runtime's SDK are
on sys.path; S3 is whatever AWS_ENDPOINT_URL_S3 points at, and the endpoint answers instantly in-process.
INVOCATION is a JSON file holding the API Gateway event and the Lambda context's attributes.
"""

from __future__ import annotations

import io
import json
import sys
import time
from types import SimpleNamespace
from typing import Any


class InstantEndpoint:
    """A sagemaker-runtime client whose endpoint answers 0.5 for every CSV row, at once."""

    def invoke_endpoint(self, *, Body: bytes, **_: Any) -> dict[str, Any]:  # noqa: N803 - boto3's parameter name
        """Answer one score per line."""
        return {"Body": io.BytesIO(b"0.5\n" * (Body.count(b"\n") + 1)), "ContentType": "text/csv"}


class Context(SimpleNamespace):
    """The Lambda context, with the attributes the parent wrote beside the event (tests.support's)."""

    def get_remaining_time_in_millis(self) -> int:
        """Answer what the parent said is left."""
        return int(self.remaining_ms)


def main(mode: str, task_root: str, layer: str, runtime: str, event_path: str) -> dict[str, float]:
    """Time init (imports, and the load when eager) and the first request."""
    sys.path[:0] = [task_root, layer]
    sys.path.append(runtime)
    started = time.perf_counter()
    if mode == "bare":
        import sklearn.preprocessing  # noqa: F401, PLC0415

        return {"init_ms": (time.perf_counter() - started) * 1000, "first_request_ms": 0.0}
    if mode == "libraries":
        import aws_xray_sdk.core  # noqa: F401, PLC0415
        import boto3  # noqa: F401, PLC0415
        import pydantic  # noqa: F401, PLC0415
        import sklearn.preprocessing  # noqa: F401, PLC0415
        from aws_lambda_powertools import Logger, Metrics, Tracer  # noqa: F401, PLC0415
        from aws_lambda_powertools.event_handler import APIGatewayRestResolver  # noqa: F401, PLC0415
        from aws_lambda_powertools.event_handler.openapi import params  # noqa: F401, PLC0415

        return {"init_ms": (time.perf_counter() - started) * 1000, "first_request_ms": 0.0}
    import churn_api.app as app  # noqa: PLC0415

    imported = time.perf_counter()
    app.predictor.scorer.client = InstantEndpoint()
    if mode == "eager":
        app.load_eagerly()  # what EAGER_INIT does during init
    init_done = time.perf_counter()
    with open(event_path, encoding="utf-8") as stream:
        invocation = json.load(stream)
    answer = app.lambda_handler(invocation["event"], Context(**invocation["context"]))
    assert answer["statusCode"] == 200, answer
    done = time.perf_counter()
    return {
        "import_ms": (imported - started) * 1000,
        "init_ms": (init_done - started) * 1000,
        "first_request_ms": (done - init_done) * 1000,
    }


if __name__ == "__main__":
    print("COLD " + json.dumps(main(*sys.argv[1:6])))
