"""What `sam build` produces: a function package and a scikit-learn layer that Lambda can load and afford."""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import subprocess
import sys
import sysconfig
from importlib.metadata import Distribution, distributions
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from packaging.requirements import Requirement

from churn_api.models import Customer
from churn_api.preprocessing import Transformation
from churn_local.dataset import as_payload
from churn_local.transformation import dumps
from tests.support import api_event, reference_payload
from tests.template.conftest import (
    CONSTRAINTS,
    FUNCTION_REQUIREMENTS,
    LAYER_REQUIREMENTS,
    normalized,
    pinned_requirements,
)

pytestmark = pytest.mark.slow

# Lambda's quota: 250 MB for the unzipped function code and all its layers together (Lambda quotas page),
# i.e. 262,144,000 bytes.
UNZIPPED_QUOTA_BYTES = 250 * 1024 * 1024
# PEP 552: the .pyc header's flags word; bit 0 = hash-based, bit 1 = check the source. 0b01 = unchecked hash.
UNCHECKED_HASH_FLAGS = 0b01
BUILD_ONLY_SUFFIXES = {".pyx", ".pxd", ".pxi", ".c", ".cpp", ".h", ".a", ".pyi"}
# What the python3.13 runtime puts on sys.path itself (Lambda runtimes page: the AWS SDK for Python), as import
# names and as distribution names. A copy in /var/task would shadow the runtime's.
RUNTIME_IMPORTS = ("boto3", "botocore", "s3transfer", "urllib3", "jmespath", "dateutil", "six.py")
RUNTIME_DISTRIBUTIONS = {"boto3", "botocore", "s3transfer", "urllib3", "jmespath", "python-dateutil", "six"}
# The extras of shipped distributions that the code relies on: Powertools' Tracer needs its [tracer] extra.
USED_EXTRAS = {"aws-lambda-powertools": {"tracer"}}
ORIGIN = "https://app.example.com"
# Lambda's environment for the function (the template's variables plus what Lambda sets itself), with an
# X-Ray trace header as Lambda passes it to a sampled invocation.
LAMBDA_ENVIRONMENT = {
    "ENDPOINT_NAME": "churn-xgboost",
    "TRANSFORM_BUCKET": "churn-api-artifacts",
    "TRANSFORM_KEY": "transformation.sav",
    "THRESHOLD": "0.39",
    "CORS_ALLOW_ORIGINS": ORIGIN,
    "ENABLE_SWAGGER": "false",
    "POWERTOOLS_SERVICE_NAME": "churn-api",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_NAMESPACE": "ChurnApi",
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_LAMBDA_FUNCTION_NAME": "churn-api-ChurnFunction",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
}
# Run in a fresh interpreter laid out like Lambda's: the function's code (/var/task) first, then the layer
# (/opt/python), then only what the runtime itself provides. It imports the handler module as Lambda does (which
# creates the Tracer, patching botocore), answers GET /health through lambda_handler, transforms customers with
# the real transformation, and records every module that had to be compiled from source.
LAMBDA_LIKE_RUN = """
import importlib._bootstrap_external as bootstrap
import json
import sys

compiled = []
source_to_code = bootstrap.SourceLoader.source_to_code


def recording_source_to_code(self, data, path, *args, **kwargs):
    compiled.append(path)
    return source_to_code(self, data, path, *args, **kwargs)


bootstrap.SourceLoader.source_to_code = recording_source_to_code
task_root, layer, runtime_packages, transformation_path, payloads_path, event_path = sys.argv[1:]
sys.path[:0] = [task_root, layer]
sys.path.append(runtime_packages)

import pickle

import churn_api.app
from churn_api.models import Customer
from churn_api.preprocessing import Transformation


class Context:
    function_name = "churn-api-ChurnFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:churn-api-ChurnFunction"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    def get_remaining_time_in_millis(self):
        return 20000


with open(event_path, encoding="utf-8") as stream:
    health = churn_api.app.lambda_handler(json.load(stream), Context())
with open(transformation_path, "rb") as stream:
    transformation = Transformation.from_mapping(pickle.load(stream))
with open(payloads_path, encoding="utf-8") as stream:
    customers = [Customer.model_validate(payload) for payload in json.load(stream)]
names = ["sklearn", "numpy", "scipy", "churn_api", "pydantic", "pydantic_core", "aws_lambda_powertools"]
names += ["aws_xray_sdk", "wrapt", "typing_extensions", "boto3", "botocore", "jmespath"]
report = {
    "csv": transformation.to_csv(customers),
    "compiled": compiled,
    "origins": {name: sys.modules[name].__file__ for name in names},
    "health": health,
    "tracing": not churn_api.app.tracer.disabled,
}
print("REPORT " + json.dumps(report))
"""


def tree_size(root: Path) -> int:
    """Return the bytes of every regular file under root, as Lambda counts an unzipped package."""
    return sum(path.lstat().st_size for path in root.rglob("*") if path.is_file() and not path.is_symlink())


def layer_packages(sam_build: Path) -> Path:
    """Return the layer's python/ folder, what Lambda mounts as /opt/python."""
    return sam_build / "SklearnLayer" / "python"


def function_package(sam_build: Path) -> Path:
    """Return the function's folder, what Lambda extracts to /var/task."""
    return sam_build / "ChurnFunction"


def shipped_distributions(root: Path) -> dict[str, Distribution]:
    """Return the distributions installed in a build folder, by normalised name."""
    return {normalized(dist.metadata["Name"]): dist for dist in distributions(path=[str(root)])}


def bytecode_problems(root: Path) -> list[str]:
    """List every module under root without a CPython 3.13 unchecked-hash .pyc compiled from its source."""
    problems = []
    for source in sorted(root.rglob("*.py")):
        cached = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        if not cached.is_file():
            problems.append(f"{source.relative_to(root)}: no {cached.name}")
            continue
        header = cached.read_bytes()[:16]
        flags = int.from_bytes(header[4:8], "little")
        if header[:4] != importlib.util.MAGIC_NUMBER or flags != UNCHECKED_HASH_FLAGS:
            problems.append(f"{cached.relative_to(root)}: magic {header[:4]!r}, flags {flags:#04b}")
        elif header[8:16] != importlib.util.source_hash(source.read_bytes()):
            problems.append(f"{cached.relative_to(root)}: compiled from another source")
    strays = [p for p in root.rglob("*.pyc") if not p.name.endswith(".cpython-313.pyc")]
    return problems + [f"{p.relative_to(root)}: not for CPython 3.13" for p in strays]


def runtime_like_packages(folder: Path) -> Path:
    """Stand in for the runtime's own site-packages: only the SDK it ships, linked from this venv."""
    folder.mkdir()
    purelib = Path(sysconfig.get_paths()["purelib"])
    for name in RUNTIME_IMPORTS:
        (folder / name).symlink_to(purelib / name)
    return folder


def health_event() -> dict[str, Any]:
    """Return the REST proxy event API Gateway sends for a browser's GET /health from ORIGIN."""
    event = api_event(None, headers={"Origin": ORIGIN})
    event.update(httpMethod="GET", path="/health", resource="/health")
    event["requestContext"].update(httpMethod="GET", resourcePath="/health", path="/Prod/health")
    return event


def test_function_and_layer_unzipped_fit_in_lambdas_250_mb(sam_build: Path) -> None:
    """Keep the function plus its layer under Lambda's unzipped size quota."""
    sizes = {name: tree_size(sam_build / name) for name in ("ChurnFunction", "SklearnLayer")}
    assert all(sizes.values()), sizes
    assert sum(sizes.values()) < UNZIPPED_QUOTA_BYTES, f"{sizes} add up to {sum(sizes.values()):,} bytes"


def test_layer_installs_exactly_the_versions_pinned_in_layer_requirements(sam_build: Path) -> None:
    """Ship scikit-learn (and numpy, scipy...) at the versions the transformation was pickled with."""
    packages = layer_packages(sam_build)
    installed = {name: dist.version for name, dist in shipped_distributions(packages).items()}
    pins = pinned_requirements(LAYER_REQUIREMENTS)
    assert {name: installed.get(name) for name in pins} == pins
    init = (packages / "sklearn" / "__init__.py").read_text(encoding="utf-8")
    version = re.search(r"""^__version__ = ["']([^"']+)["']""", init, re.MULTILINE)
    assert version is not None
    assert version[1] == pins["scikit-learn"]


def test_layer_ships_no_test_suites_console_scripts_or_build_only_files(sam_build: Path) -> None:
    """Leave out what nothing imports at run time."""
    packages = layer_packages(sam_build)
    assert sorted(str(p.relative_to(packages)) for p in packages.rglob("tests") if p.is_dir()) == []
    assert not (packages / "joblib" / "test").exists()
    assert not (packages / "bin").exists()
    leftovers = [p for p in packages.rglob("*") if p.suffix in BUILD_ONLY_SUFFIXES and p.is_file()]
    assert [str(p.relative_to(packages)) for p in leftovers] == []


@pytest.mark.parametrize("folder", [layer_packages, function_package], ids=["layer", "function"])
def test_every_module_has_unchecked_hash_bytecode_for_cpython_313(sam_build: Path, folder: Any) -> None:
    """Give every module a .pyc that CPython 3.13 loads from read-only /opt or /var/task without checking sources."""
    assert sys.implementation.cache_tag == "cpython-313", "this check needs the runtime's interpreter"
    root = folder(sam_build)
    assert any(root.rglob("*.py"))
    assert bytecode_problems(root) == []


def test_the_function_package_holds_the_handler_but_no_local_only_layer_or_runtime_packages(sam_build: Path) -> None:
    """Deploy churn_api with its own dependencies only: a copy of a layer or runtime package would shadow it."""
    function = function_package(sam_build)
    assert (function / "churn_api" / "app.py").is_file()
    assert (function / "pydantic").is_dir()
    assert (function / "aws_lambda_powertools").is_dir()
    assert (function / "aws_xray_sdk").is_dir()
    unwanted = ["churn_local", "tests", "xgboost", "pandas", "matplotlib", "moto", "sklearn", "numpy", "scipy"]
    unwanted += [*RUNTIME_IMPORTS, "bin", "requirements.txt", "Makefile"]
    assert [name for name in unwanted if (function / name).exists()] == []
    assert not set(shipped_distributions(function)) & RUNTIME_DISTRIBUTIONS


def test_the_function_ships_exactly_the_pins_of_src_requirements_which_agree_with_the_constraints(
    sam_build: Path,
) -> None:
    """Install what src/requirements.txt pins and nothing else, at the versions the venv is tested with."""
    pins = pinned_requirements(FUNCTION_REQUIREMENTS)
    installed = {name: dist.version for name, dist in shipped_distributions(function_package(sam_build)).items()}
    assert installed == pins
    constraints = pinned_requirements(CONSTRAINTS)
    assert {name: constraints.get(name) for name in pins} == pins


def test_every_dependency_of_a_shipped_distribution_is_shipped_or_comes_with_the_runtime(sam_build: Path) -> None:
    """Leave no requirement unmet by installing with --no-deps: each is in the package or the runtime's SDK."""
    shipped = shipped_distributions(function_package(sam_build))
    unmet = []
    for name, dist in shipped.items():
        for line in dist.requires or []:
            requirement = Requirement(line)
            extras = USED_EXTRAS.get(name, set()) | {""}
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate({"extra": extra}) for extra in extras):
                continue
            dependency = normalized(requirement.name)
            if dependency in RUNTIME_DISTRIBUTIONS:
                continue
            if dependency not in shipped or not requirement.specifier.contains(shipped[dependency].version):
                unmet.append(f"{name} needs {requirement}")
    assert unmet == []


def test_the_built_function_runs_like_on_lambda_answering_traced_and_transforming_with_the_layer(
    sam_build: Path, fitted_transformation: dict[str, Any], churn_frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Import the handler, answer GET /health with an X-Ray subsegment, and transform customers, compiling nothing.

    Only /var/task, /opt/python and the runtime's SDK are on sys.path, so a dependency missing from the package
    fails here, and a module compiled at import time would be compiled on every cold start.
    """
    rows = churn_frame.sample(200, random_state=7)
    payloads = [reference_payload()] + [as_payload(row) for _, row in rows.iterrows()]
    (tmp_path / "transformation.sav").write_bytes(dumps(fitted_transformation))
    (tmp_path / "payloads.json").write_text(json.dumps(payloads), encoding="utf-8")
    (tmp_path / "event.json").write_text(json.dumps(health_event()), encoding="utf-8")
    task_root, layer = function_package(sam_build), layer_packages(sam_build)
    runtime = runtime_like_packages(tmp_path / "runtime")
    arguments = [str(task_root), str(layer), str(runtime)]
    arguments += [str(tmp_path / name) for name in ("transformation.sav", "payloads.json", "event.json")]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        # Stands in for the X-Ray daemon, which Lambda runs at AWS_XRAY_DAEMON_ADDRESS.
        daemon.bind(("127.0.0.1", 0))
        daemon.settimeout(5)
        environment = {
            **LAMBDA_ENVIRONMENT,
            "LAMBDA_TASK_ROOT": str(task_root),
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
            # /var/task and /opt are read-only on Lambda: nothing may be written next to the modules.
            "PYTHONDONTWRITEBYTECODE": "1",
            "PATH": "/usr/bin:/bin",
        }
        command = [sys.executable, "-S", "-B", "-c", LAMBDA_LIKE_RUN, *arguments]
        result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stderr
        segments = [line for line in daemon.recv(65536).decode().splitlines() if line.startswith("{")]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    report = json.loads(line.removeprefix("REPORT "))

    origins = {name: Path(path) for name, path in report["origins"].items()}
    assert all(origins[name].is_relative_to(layer) for name in ("sklearn", "numpy", "scipy"))
    bundled = ("churn_api", "pydantic", "pydantic_core", "aws_lambda_powertools", "aws_xray_sdk", "wrapt")
    assert all(origins[name].is_relative_to(task_root) for name in (*bundled, "typing_extensions"))
    assert all(origins[name].is_relative_to(runtime) for name in ("boto3", "botocore", "jmespath"))
    assert [path for path in report["compiled"] if not Path(path).is_relative_to(runtime)] == []

    assert report["health"]["statusCode"] == 200
    assert json.loads(report["health"]["body"]) == {"status": "ok"}
    assert report["health"]["multiValueHeaders"]["Access-Control-Allow-Origin"] == [ORIGIN]
    assert report["tracing"] is True
    (segment,) = [json.loads(s) for s in segments if json.loads(s).get("type") == "subsegment"]
    assert segment["name"] == "## lambda_handler"
    assert segment["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"

    expected = Transformation.from_mapping(fitted_transformation).to_csv(
        [Customer.model_validate(payload) for payload in payloads]
    )
    assert report["csv"] == expected
