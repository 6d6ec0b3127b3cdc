"""What `sam build` produces: a function package and a scikit-learn layer that Lambda can load and afford."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from importlib.metadata import Distribution, distributions
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from packaging.requirements import Requirement
from sklearn.preprocessing import OneHotEncoder

from churn_api.models import Customer
from churn_local.constants import PROJECT_ROOT
from churn_local.lambda_runtime.event_files import api_event, reference_payload
from churn_local.lambda_runtime.runtime import (
    RUNTIME_IMPORTS,
    UNUSABLE_CREDENTIALS,
    daemon_port,
    handler_environment,
    lambda_runtime_environment,
    listed_packages,
    run_like_lambda,
    runner_paths,
    runtime_sdk_packages,
    xray_daemon,
)
from churn_local.training.dataset import OBJ_COLS, as_payload
from churn_local.training.transformation import dumps
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
# The runtime's SDK (churn_local.lambda_runtime.runtime.RUNTIME_IMPORTS) as distribution names.
RUNTIME_DISTRIBUTIONS = {"boto3", "botocore", "s3transfer", "urllib3", "jmespath", "python-dateutil", "six"}
# The extras of shipped distributions that the code relies on: Powertools' Tracer needs its [tracer] extra.
USED_EXTRAS = {"aws-lambda-powertools": {"tracer"}}
ORIGIN = "https://app.example.com"
# The function's variables as the template sets them, with a browser origin and quiet logs.
LAMBDA_ENVIRONMENT = {
    **handler_environment(CorsAllowOrigin=ORIGIN, LogLevel="WARNING"),
    **UNUSABLE_CREDENTIALS,
}
# Budgets: Lambda's quota is 250 MB for the function and its layers together; issue 10 asks for 180 MB or less.
SIZE_BUDGET_BYTES = 180 * 1024 * 1024
UNUSED_SUBPACKAGES = PROJECT_ROOT / "layer" / "unused-subpackages.txt"


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


def unused_subpackages() -> list[str]:
    """Return the packages layer/Makefile deletes from the layer."""
    return listed_packages(UNUSED_SUBPACKAGES)


@pytest.fixture(scope="module")
def transformations(fitted_transformation: dict[str, Any], churn_frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the reference transformation with a dense-output encoder, and the same with a sparse-output one."""
    sparse = OneHotEncoder(sparse_output=True, handle_unknown="error").fit(churn_frame[OBJ_COLS])
    return [fitted_transformation, {**fitted_transformation, "One_Hot": sparse}]


@pytest.fixture(scope="module")
def payloads(churn_frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the reference payload and 200 real rows, as clients send them."""
    rows = churn_frame.sample(200, random_state=7)
    return [reference_payload()] + [as_payload(row) for _, row in rows.iterrows()]


@pytest.fixture(scope="module")
def lambda_run(
    sam_build: Path,
    transformations: list[dict[str, Any]],
    payloads: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """Run the build in a Lambda-like interpreter with an X-Ray daemon stand-in; return its report and segments."""
    tmp_path = tmp_path_factory.mktemp("lambda-like")
    paths = []
    for i, saved in enumerate(transformations):
        paths.append(tmp_path / f"transformation-{i}.sav")
        paths[-1].write_bytes(dumps(saved))
    task_root, layer = function_package(sam_build), layer_packages(sam_build)
    runtime = runtime_sdk_packages(tmp_path / "runtime")
    request = {
        "mode": "report",
        **runner_paths(task_root, layer, runtime),
        "event": health_event(),
        "payloads": payloads,
        "unused": unused_subpackages(),
        "transformations": [str(path) for path in paths],
    }
    with xray_daemon(timeout_s=5) as daemon:
        environment = {**LAMBDA_ENVIRONMENT, **lambda_runtime_environment(task_root, daemon_port(daemon))}
        report, _ = run_like_lambda(request, environment)
        segments = [line for line in daemon.recv(65536).decode().splitlines() if line.startswith("{")]
    report["segments"] = [json.loads(s) for s in segments]
    report["task_root"], report["layer"], report["runtime"] = str(task_root), str(layer), str(runtime)
    return report


def test_the_built_function_runs_like_on_lambda_answering_traced_from_its_own_packages(
    lambda_run: dict[str, Any],
) -> None:
    """Import the handler, answer GET /health with an X-Ray subsegment, compiling nothing.

    Only /var/task, /opt/python and the runtime's SDK are on sys.path, so a dependency missing from the package
    fails here, and a module compiled at import time would be compiled on every cold start.
    """
    task_root, layer, runtime = (Path(lambda_run[k]) for k in ("task_root", "layer", "runtime"))
    origins = {name: Path(path) for name, path in lambda_run["origins"].items()}
    assert all(origins[name].is_relative_to(layer) for name in ("sklearn", "numpy", "scipy"))
    bundled = ("churn_api", "pydantic", "pydantic_core", "aws_lambda_powertools", "aws_xray_sdk", "wrapt")
    assert all(origins[name].is_relative_to(task_root) for name in (*bundled, "typing_extensions"))
    assert all(origins[name].is_relative_to(runtime) for name in ("boto3", "botocore", "jmespath"))
    assert [path for path in lambda_run["compiled"] if not Path(path).is_relative_to(runtime)] == []

    health = lambda_run["answer"]
    assert health["statusCode"] == 200
    assert json.loads(health["body"]) == {"status": "ok"}
    assert health["multiValueHeaders"]["Access-Control-Allow-Origin"] == [ORIGIN]
    assert lambda_run["tracing"] is True
    (segment,) = [s for s in lambda_run["segments"] if s.get("type") == "subsegment"]
    assert segment["name"] == "## lambda_handler"
    assert segment["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"


def test_the_pruned_layer_transforms_like_scikit_learn_with_dense_and_sparse_encoders_on_the_compiled_path(
    lambda_run: dict[str, Any], transformations: list[dict[str, Any]], payloads: list[dict[str, Any]]
) -> None:
    """Load both encoder variants from the pruned layer and write the CSV scikit-learn's values give."""
    customers = [Customer.model_validate(payload) for payload in payloads]
    assert lambda_run["compiled_path"] == [True, True]
    for saved, csv in zip(transformations, lambda_run["csv"], strict=True):
        encoder, scaler = saved["One_Hot"], saved["scaler"]
        frame = pd.DataFrame([c.features() for c in customers])
        encoded = encoder.transform(frame[saved["obj_cols"]])
        encoded = encoded.toarray() if hasattr(encoded, "toarray") else encoded
        expected = np.hstack([encoded, scaler.transform(frame[saved["num_cols"]].astype("float64"))])
        assert csv == "\n".join(",".join(repr(float(v)) for v in row) for row in expected)


def test_no_deleted_subpackage_is_ever_asked_for_by_the_load_and_transform_path(lambda_run: dict[str, Any]) -> None:
    """Trace the real load with an import hook: a dropped package that is asked for, even in a try, fails here."""
    assert lambda_run["requested_unused"] == []
    assert "sklearn.preprocessing" in lambda_run["imported"]
    assert "scipy.sparse" in lambda_run["imported"]


def test_the_layer_lacks_the_unused_subpackages_but_keeps_every_shared_library(sam_build: Path) -> None:
    """Delete exactly the listed package folders; every file the wheels put under *.libs is still there."""
    packages = layer_packages(sam_build)
    unused = unused_subpackages()
    assert unused and all("libs" not in name for name in unused)
    assert [name for name in unused if (packages / name.replace(".", "/")).exists()] == []
    assert all((packages / name.rsplit(".", 1)[0].replace(".", "/")).is_dir() for name in unused)
    wheel_libraries = [
        path
        for dist in shipped_distributions(packages).values()
        for path in (dist.files or [])
        if path.parts[0].endswith(".libs")
    ]
    assert len(wheel_libraries) >= 3
    assert [str(path) for path in wheel_libraries if not (packages / path).is_file()] == []


def test_function_and_layer_unzipped_fit_in_the_180_mb_budget(sam_build: Path) -> None:
    """Keep the deployment well under Lambda's quota: 180 MB for the function and the layer."""
    sizes = {name: tree_size(sam_build / name) for name in ("ChurnFunction", "SklearnLayer")}
    assert sum(sizes.values()) <= SIZE_BUDGET_BYTES, f"{sizes} add up to {sum(sizes.values()):,} bytes"


def test_the_bulk_function_is_built_file_for_file_as_the_api_function(sam_build: Path) -> None:
    """Ship bulk scoring's function (EnableBulkScoring) as the same package: src/Makefile's one recipe."""

    def files(root: Path) -> dict[str, bytes]:
        # Bytecode is compiled per build, and marshal's output varies with reference counts: the name suffices.
        shipped = (p for p in sorted(root.rglob("*")) if p.is_file())
        return {str(p.relative_to(root)): b"" if p.suffix == ".pyc" else p.read_bytes() for p in shipped}

    assert files(sam_build / "BulkScoreFunction") == files(function_package(sam_build))
