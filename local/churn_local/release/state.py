"""The per-user deploy state: the pins `make publish` saved per samconfig environment, never tracked by git.

``.churn-api/deploy.toml`` holds one table per samconfig environment: a clean checkout stays clean, and no commit
points everyone's deploy at one account's bucket. `make publish` writes it, `make deploy` reads it.
"""

from __future__ import annotations

import shlex
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit

STATE_FILE = Path(".churn-api") / "deploy.toml"
STATE_HEADER = (
    "Per-user deploy state, written by `make publish` and read by `make deploy`; git-ignored, never commit it.\n"
    "One table per samconfig environment; a parameter added here by hand is kept by the next `make publish`."
)


def load_state(path: Path) -> dict[str, dict[str, str]]:
    """Return the saved parameters of every environment (none when the file does not exist)."""
    if not path.is_file():
        return {}
    tables = tomllib.loads(path.read_text(encoding="utf-8"))
    return {env: {name: str(value) for name, value in table.items()} for env, table in tables.items()}


def save_parameters(path: Path, env: str, parameters: Mapping[str, str]) -> dict[str, str]:
    """Merge parameters into one environment's table (keeping the others and any set by hand); return the table."""
    document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.is_file() else tomlkit.document()
    if not document.body:
        for line in STATE_HEADER.splitlines():
            document.add(tomlkit.comment(line))
    table = document.get(env)
    if table is None:
        table = tomlkit.table()
        document.add(env, table)
    for name, value in parameters.items():
        table[name] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomlkit.dumps(document), encoding="utf-8")
    return {name: str(value) for name, value in table.items()}


def samconfig_overrides(path: Path, env: str) -> dict[str, str]:
    """Return the `parameter_overrides` a tracked samconfig environment sets (e.g. its DeploymentType)."""
    if not path.is_file():
        return {}
    config: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    text = str(config.get(env, {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", ""))
    return dict(pair.split("=", 1) for pair in shlex.split(text))


def overrides_text(parameters: Mapping[str, str]) -> str:
    """Render parameters as `sam deploy --parameter-overrides` takes them."""
    return " ".join(f"{name}={shlex.quote(value)}" for name, value in parameters.items())
