"""Load and run the built function in an interpreter laid out like Lambda's, and report what happened as JSON.

Run as `python -S -B lambda_like_run.py TASK_ROOT LAYER RUNTIME EVENT PAYLOADS UNUSED TRANSFORMATION...`: only
the function's code (/var/task), the layer (/opt/python) and the runtime's own SDK are on sys.path, so it imports
nothing from this project or its venv. It imports the handler module as Lambda does (which creates the Tracer,
patching botocore), answers EVENT through lambda_handler, loads each pickled TRANSFORMATION with the function's
own code and renders PAYLOADS as CSV. Along the way it records every module compiled from source (on read-only
/opt that happens on every cold start) and every import asked of a subpackage listed in UNUSED (the layer's
unused-subpackages.txt), even one whose ImportError the asker would swallow. It prints one `REPORT {json}` line.
"""

from __future__ import annotations

import importlib._bootstrap_external as bootstrap
import importlib.abc
import json
import pickle
import sys
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any

COMPILED: list[str] = []
_source_to_code = bootstrap.SourceLoader.source_to_code


def _recording_source_to_code(self: Any, data: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
    COMPILED.append(str(path))
    return _source_to_code(self, data, path, *args, **kwargs)


class UnusedImportRecorder(importlib.abc.MetaPathFinder):
    """Record any import of a listed package or its submodules; leave finding it to the other finders."""

    def __init__(self, packages: Sequence[str]) -> None:
        self.packages = tuple(packages)
        self.requested: list[str] = []

    def find_spec(self, fullname: str, path: Any, target: ModuleType | None = None) -> None:
        """Note the name if it is listed, then let the normal finders answer."""
        if any(fullname == p or fullname.startswith(p + ".") for p in self.packages):
            self.requested.append(fullname)


class Context:
    """The Lambda context attributes Powertools reads."""

    function_name = "churn-api-ChurnFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:churn-api-ChurnFunction"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    def get_remaining_time_in_millis(self) -> int:
        """Leave the whole budget."""
        return 20000


def listed_packages(path: str) -> list[str]:
    """Read a package-per-line file, skipping comments and blanks."""
    with open(path, encoding="utf-8") as stream:
        return [line.strip() for line in stream if line.strip() and not line.startswith("#")]


def main(argv: Sequence[str]) -> dict[str, Any]:
    """Run the function as Lambda would and return the report."""
    task_root, layer, runtime, event_path, payloads_path, unused_path, *transformation_paths = argv
    bootstrap.SourceLoader.source_to_code = _recording_source_to_code  # type: ignore[method-assign]
    recorder = UnusedImportRecorder(listed_packages(unused_path))
    sys.meta_path.insert(0, recorder)
    sys.path[:0] = [task_root, layer]
    sys.path.append(runtime)

    started = time.perf_counter()
    import churn_api.app as app  # noqa: PLC0415 - imported from the paths set up above
    from churn_api.models import Customer  # noqa: PLC0415
    from churn_api.preprocessing import Transformation  # noqa: PLC0415

    imported_ms = (time.perf_counter() - started) * 1000
    with open(event_path, encoding="utf-8") as stream:
        answer = app.lambda_handler(json.load(stream), Context())
    with open(payloads_path, encoding="utf-8") as stream:
        customers = [Customer.model_validate(payload) for payload in json.load(stream)]
    csv, compiled_path = [], []
    for path in transformation_paths:
        with open(path, "rb") as stream:
            transformation = Transformation.from_mapping(pickle.load(stream))  # noqa: S301 - the test's own artifact
        csv.append(transformation.to_csv(customers))
        compiled_path.append(transformation.compiled is not None)
    names = ["sklearn", "numpy", "scipy", "churn_api", "pydantic", "pydantic_core", "aws_lambda_powertools"]
    names += ["aws_xray_sdk", "wrapt", "typing_extensions", "boto3", "botocore", "jmespath"]
    return {
        "csv": csv,
        "compiled_path": compiled_path,
        "compiled": COMPILED,
        "requested_unused": recorder.requested,
        "imported": sorted(sys.modules),
        "origins": {name: sys.modules[name].__file__ for name in names},
        "answer": answer,
        "tracing": not app.tracer.disabled,
        "import_ms": imported_ms,
    }


if __name__ == "__main__":
    print("REPORT " + json.dumps(main(sys.argv[1:])))
