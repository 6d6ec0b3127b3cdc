"""Run the built function in an interpreter laid out like Lambda's: `python -S -B runner.py REQUEST_JSON`.

Only the function's code (/var/task), the layer (/opt/python) and the runtime's own SDK are on sys.path, so nothing
of this project's venv is imported. It prints one `RESULT {json}` line. The request's `mode`:

- `bare`: only `import sklearn.preprocessing`, the floor any scikit-learn function pays;
- `libraries`: that, then the libraries the function is built on (Powertools' logger, metrics, tracer with the
  X-Ray SDK, REST event handler with its OpenAPI validation, pydantic, boto3): the floor of any function using them;
- `lazy`: import the handler module as Lambda does, then answer `event` (the first request loads the
  transformation, as the function does by default);
- `eager`: import, load during init (what EAGER_INIT does), then answer `event`;
- `report`: as lazy, and also record every module compiled from source (on read-only /opt that happens on every
  cold start) and every import of a package listed in `unused` (even one whose ImportError the asker swallows),
  load each pickled file in `transformations` with the function's own code and render `payloads` as CSV.

`instant_endpoint` replaces the SageMaker client with one that answers 0.5 for every row at once. `context` holds
the Lambda context's attributes (churn_local.lambda_runtime.context.LambdaContext).
"""

from __future__ import annotations

import importlib._bootstrap_external as bootstrap
import importlib.abc
import io
import json
import pickle
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any


class InstantEndpoint:
    """A sagemaker-runtime client whose endpoint answers 0.5 for every CSV row, at once."""

    def invoke_endpoint(self, *, Body: bytes, **_: Any) -> dict[str, Any]:  # noqa: N803 - boto3's parameter name
        """Answer one score per line."""
        return {"Body": io.BytesIO(b"0.5\n" * (Body.count(b"\n") + 1)), "ContentType": "text/csv"}


class UnusedImportRecorder(importlib.abc.MetaPathFinder):
    """Record any import of a listed package or its submodules; leave finding it to the other finders."""

    def __init__(self, packages: Sequence[str]) -> None:
        self.packages = tuple(packages)
        self.requested: list[str] = []

    def find_spec(self, fullname: str, path: Any, target: ModuleType | None = None) -> None:
        """Note the name if it is listed, then let the normal finders answer."""
        if any(fullname == p or fullname.startswith(p + ".") for p in self.packages):
            self.requested.append(fullname)


def record_compilations() -> list[str]:
    """Make every compilation from source append its path to the returned list."""
    compiled: list[str] = []
    source_to_code = bootstrap.SourceLoader.source_to_code

    def recording(self: Any, data: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
        compiled.append(str(path))
        return source_to_code(self, data, path, *args, **kwargs)

    bootstrap.SourceLoader.source_to_code = recording  # type: ignore[method-assign]
    return compiled


def import_floor(mode: str) -> None:
    """Import what the `bare` or `libraries` floor imports."""
    import sklearn.preprocessing  # noqa: F401, PLC0415

    if mode == "libraries":
        import aws_xray_sdk.core  # noqa: F401, PLC0415
        import boto3  # noqa: F401, PLC0415
        import pydantic  # noqa: F401, PLC0415
        from aws_lambda_powertools import Logger, Metrics, Tracer  # noqa: F401, PLC0415
        from aws_lambda_powertools.event_handler import APIGatewayRestResolver  # noqa: F401, PLC0415
        from aws_lambda_powertools.event_handler.openapi import params  # noqa: F401, PLC0415


def main(request: dict[str, Any], context_class: Callable[..., Any]) -> dict[str, Any]:
    """Run the request's mode as Lambda would and return what it found."""
    mode = request["mode"]
    compiled = record_compilations() if mode == "report" else []
    recorder = UnusedImportRecorder(request.get("unused", []))
    if mode == "report":
        sys.meta_path.insert(0, recorder)
    sys.path[:0] = [request["task_root"], request["layer"]]
    sys.path.append(request["runtime"])
    started = time.perf_counter()
    if mode in ("bare", "libraries"):
        import_floor(mode)
        return {"init_ms": (time.perf_counter() - started) * 1000, "first_request_ms": 0.0}

    import churn_api.app as app  # noqa: PLC0415 - imported from the paths set up above

    imported = time.perf_counter()
    if request.get("instant_endpoint"):
        app.predictor.scorer.client = InstantEndpoint()
    if mode == "eager":
        app.load_eagerly()
    init_done = time.perf_counter()
    answer = app.lambda_handler(request["event"], context_class(**request.get("context", {})))
    done = time.perf_counter()
    result: dict[str, Any] = {
        "import_ms": (imported - started) * 1000,
        "init_ms": (init_done - started) * 1000,
        "first_request_ms": (done - init_done) * 1000,
        "answer": answer,
    }
    if mode == "report":
        result.update(report(app, request, compiled, recorder))
    return result


def report(app: Any, request: dict[str, Any], compiled: list[str], recorder: UnusedImportRecorder) -> dict[str, Any]:
    """Render the payloads with each transformation and say where the packages came from."""
    from churn_api.models import Customer  # noqa: PLC0415
    from churn_api.preprocessing import Transformation  # noqa: PLC0415

    customers = [Customer.model_validate(payload) for payload in request.get("payloads", [])]
    csv, compiled_path = [], []
    for path in request.get("transformations", []):
        with open(path, "rb") as stream:
            transformation = Transformation.from_mapping(pickle.load(stream))  # noqa: S301 - the caller's own artifact
        csv.append(transformation.to_csv(customers))
        compiled_path.append(transformation.compiled is not None)
    names = ["sklearn", "numpy", "scipy", "churn_api", "pydantic", "pydantic_core", "aws_lambda_powertools"]
    names += ["aws_xray_sdk", "wrapt", "typing_extensions", "boto3", "botocore", "jmespath"]
    return {
        "csv": csv,
        "compiled_path": compiled_path,
        "compiled": compiled,
        "requested_unused": recorder.requested,
        "imported": sorted(sys.modules),
        "origins": {name: sys.modules[name].__file__ for name in names},
        "tracing": not app.tracer.disabled,
    }


if __name__ == "__main__":
    # Only the context comes from this project: its package's folder is on sys.path while it is imported, then gone.
    sys.path[0] = str(Path(__file__).resolve().parents[2])
    from churn_local.lambda_runtime.context import LambdaContext

    del sys.path[0]
    print("RESULT " + json.dumps(main(json.loads(sys.argv[1]), LambdaContext)))
