"""Rules of the source tree that no linter holds: file length, test helpers, and pre-commit running `make lint`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from churn_local.constants import PROJECT_ROOT

MAX_LINES = 400  # a file a newcomer can read in one sitting
PRE_COMMIT_CONFIG = PROJECT_ROOT / ".pre-commit-config.yaml"


def tracked_python_files() -> list[Path]:
    """Return every Python file git tracks (or would: new files not ignored), tests included."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [PROJECT_ROOT / name for name in listed if (PROJECT_ROOT / name).is_file()]


def test_no_python_file_is_longer_than_a_newcomer_reads_in_one_sitting() -> None:
    long = {
        str(path.relative_to(PROJECT_ROOT)): lines
        for path in tracked_python_files()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_module_imports_a_test_module_helpers_live_in_helper_modules_or_conftest() -> None:
    # In code and in code handed to a child process as a string alike.
    test_module = re.compile(r"\b(?:from|import)\s+((?:tests|benchmarks)(?:\.\w+)*\.test_\w+)")
    imports = [
        f"{path.relative_to(PROJECT_ROOT)} imports {name}"
        for path in tracked_python_files()
        for name in test_module.findall(path.read_text(encoding="utf-8"))
    ]
    assert imports == []


def test_pre_commit_runs_what_ci_runs_first_make_lint() -> None:
    config = yaml.safe_load(PRE_COMMIT_CONFIG.read_text(encoding="utf-8"))
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert [(hook["entry"], hook.get("pass_filenames")) for hook in hooks] == [("make lint", False)]
    # pre-commit's own schema accepts the file.
    subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "pre-commit"), "validate-config", str(PRE_COMMIT_CONFIG)],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )


def test_make_lint_runs_ruff_ruff_format_mypy_and_cfn_lint() -> None:
    recipe = subprocess.run(
        ["make", "--no-print-directory", "-n", "lint"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    tools = [
        " ".join([Path(words[0]).name, *words[1:]])
        for words in map(str.split, recipe.splitlines())
        if words and Path(words[0]).name in {"ruff", "mypy", "cfn-lint"}
    ]
    assert tools == ["ruff check .", "ruff format --check .", "mypy", "cfn-lint template.yaml"]
