"""What `sam build` produces: a function package and a scikit-learn layer that Lambda can load and afford."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import sysconfig
from importlib.metadata import distributions
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from churn_api.models import Customer
from churn_api.preprocessing import Transformation
from churn_local.dataset import as_payload
from churn_local.transformation import dumps
from tests.support import reference_payload
from tests.template.conftest import pinned_layer_requirements

pytestmark = pytest.mark.slow

# Lambda's quota: 250 MB for the unzipped function code and all its layers together (Lambda quotas page),
# i.e. 262,144,000 bytes.
UNZIPPED_QUOTA_BYTES = 250 * 1024 * 1024
# PEP 552: the .pyc header's flags word; bit 0 = hash-based, bit 1 = check the source. 0b01 = unchecked hash.
UNCHECKED_HASH_FLAGS = 0b01
BUILD_ONLY_SUFFIXES = {".pyx", ".pxd", ".pxi", ".c", ".cpp", ".h", ".a", ".pyi"}
# Run in a fresh interpreter laid out like Lambda's: the function's code (/var/task) first, then the layer
# (/opt/python), then the runtime's own packages (boto3/botocore; this venv's stand in). It records every
# module that had to be compiled from source because no usable .pyc was there.
LAMBDA_LIKE_IMPORT = """
import importlib._bootstrap_external as bootstrap
import json
import sys

compiled = []
source_to_code = bootstrap.SourceLoader.source_to_code


def recording_source_to_code(self, data, path, *args, **kwargs):
    compiled.append(path)
    return source_to_code(self, data, path, *args, **kwargs)


bootstrap.SourceLoader.source_to_code = recording_source_to_code
task_root, layer, runtime_packages, transformation_path, payloads_path = sys.argv[1:]
sys.path[:0] = [task_root, layer]
sys.path.append(runtime_packages)

import pickle

from churn_api.models import Customer
from churn_api.preprocessing import Transformation

with open(transformation_path, "rb") as stream:
    transformation = Transformation.from_mapping(pickle.load(stream))
with open(payloads_path, encoding="utf-8") as stream:
    customers = [Customer.model_validate(payload) for payload in json.load(stream)]
origins = {name: sys.modules[name].__file__ for name in ("sklearn", "numpy", "scipy", "churn_api")}
print(json.dumps({"csv": transformation.to_csv(customers), "compiled": compiled, "origins": origins}))
"""


def tree_size(root: Path) -> int:
    """Return the bytes of every regular file under root, as Lambda counts an unzipped package."""
    return sum(path.lstat().st_size for path in root.rglob("*") if path.is_file() and not path.is_symlink())


def layer_packages(sam_build: Path) -> Path:
    """Return the layer's python/ folder, what Lambda mounts as /opt/python."""
    return sam_build / "SklearnLayer" / "python"


def test_function_and_layer_unzipped_fit_in_lambdas_250_mb(sam_build: Path) -> None:
    """Keep the function plus its layer under Lambda's unzipped size quota."""
    sizes = {name: tree_size(sam_build / name) for name in ("ChurnFunction", "SklearnLayer")}
    assert all(sizes.values()), sizes
    assert sum(sizes.values()) < UNZIPPED_QUOTA_BYTES, f"{sizes} add up to {sum(sizes.values()):,} bytes"


def test_layer_installs_exactly_the_versions_pinned_in_layer_requirements(sam_build: Path) -> None:
    """Ship scikit-learn (and numpy, scipy...) at the versions the transformation was pickled with."""
    packages = layer_packages(sam_build)
    installed = {
        dist.metadata["Name"].lower().replace("_", "-"): dist.version for dist in distributions(path=[str(packages)])
    }
    pins = pinned_layer_requirements()
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


def test_every_layer_module_has_unchecked_hash_bytecode_for_cpython_313(sam_build: Path) -> None:
    """Give every module a .pyc that CPython 3.13 loads from the read-only /opt without checking the source."""
    assert sys.implementation.cache_tag == "cpython-313", "this check needs the runtime's interpreter"
    packages = layer_packages(sam_build)
    sources = sorted(packages.rglob("*.py"))
    assert any(path.is_relative_to(packages / "sklearn") for path in sources)
    problems = []
    for source in sources:
        cached = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        if not cached.is_file():
            problems.append(f"{source.relative_to(packages)}: no {cached.name}")
            continue
        header = cached.read_bytes()[:16]
        flags = int.from_bytes(header[4:8], "little")
        if header[:4] != importlib.util.MAGIC_NUMBER or flags != UNCHECKED_HASH_FLAGS:
            problems.append(f"{cached.relative_to(packages)}: magic {header[:4]!r}, flags {flags:#04b}")
        elif header[8:16] != importlib.util.source_hash(source.read_bytes()):
            problems.append(f"{cached.relative_to(packages)}: compiled from another source")
    assert problems == []
    strays = [p for p in packages.rglob("*.pyc") if not p.name.endswith(".cpython-313.pyc")]
    assert [str(p.relative_to(packages)) for p in strays] == []


def test_the_built_function_and_layer_transform_customers_as_this_venv_does_compiling_nothing_from_the_layer(
    sam_build: Path, fitted_transformation: dict[str, Any], churn_frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Unpickle the real transformation with the layer's scikit-learn and the function's code, and score rows."""
    rows = churn_frame.sample(200, random_state=7)
    payloads = [reference_payload()] + [as_payload(row) for _, row in rows.iterrows()]
    (tmp_path / "transformation.sav").write_bytes(dumps(fitted_transformation))
    (tmp_path / "payloads.json").write_text(json.dumps(payloads), encoding="utf-8")
    packages = layer_packages(sam_build)
    command = [sys.executable, "-S", "-B", "-c", LAMBDA_LIKE_IMPORT, str(sam_build / "ChurnFunction"), str(packages)]
    command += [sysconfig.get_paths()["purelib"], str(tmp_path / "transformation.sav"), str(tmp_path / "payloads.json")]
    # /opt is read-only on Lambda: nothing may be written next to the modules, as with PYTHONDONTWRITEBYTECODE.
    environment = {"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    assert all(Path(report["origins"][name]).is_relative_to(packages) for name in ("sklearn", "numpy", "scipy"))
    assert Path(report["origins"]["churn_api"]).is_relative_to(sam_build / "ChurnFunction")
    assert [path for path in report["compiled"] if Path(path).is_relative_to(packages)] == []
    expected = Transformation.from_mapping(fitted_transformation).to_csv(
        [Customer.model_validate(payload) for payload in payloads]
    )
    assert report["csv"] == expected


def test_the_function_package_holds_the_handler_but_no_local_only_or_layer_packages(sam_build: Path) -> None:
    """Deploy churn_api with its own dependencies only: layer packages in /var/task would shadow the layer's."""
    function = sam_build / "ChurnFunction"
    assert (function / "churn_api" / "app.py").is_file()
    assert (function / "pydantic").is_dir()
    assert (function / "aws_lambda_powertools").is_dir()
    unwanted = ["churn_local", "tests", "xgboost", "pandas", "matplotlib", "moto", "sklearn", "numpy", "scipy"]
    assert [name for name in unwanted if (function / name).exists()] == []
