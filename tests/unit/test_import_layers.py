"""The rooms of src/, local/, benchmarks/ and hooks/ import downwards only, and no module imports itself back.

Every import counts, those inside functions too: an import deferred into a function still ties the two modules.
Imports in an `except ImportError:` block are left out: they name another commit's layout (a benchmark baseline).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from churn_local.constants import PROJECT_ROOT

# Lowest first. A room may import rooms of lower layers only: never one above, never a sibling on its own layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("churn_api", "churn_local", "churn_local.constants"),
    ("churn_local.template", "churn_local.services"),
    ("churn_local.lambda_runtime", "churn_local.training"),
    ("churn_local.release", "churn_local.apigw"),
    ("churn_local.stack",),
    ("churn_local.containers", "churn_local.bulk", "churn_local.openapi", "churn_local.drift"),
    # The emulated deploy builds on the containers (the daemon, the Lambda image) and on release (publish, deploy).
    ("churn_local.emulator",),
    ("benchmarks", "hooks"),
)
LAYER_OF = {room: level for level, rooms in enumerate(LAYERS) for room in rooms}
SOURCES = ("src", "local", "benchmarks", "hooks")
OURS = ("churn_api", "churn_local", "benchmarks", "hooks")


def module_name(path: Path) -> str:
    """Return the dotted module a source file is imported as (src/ and local/ are on the path)."""
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[0] in ("src", "local"):
        parts = parts[1:]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room_of(module: str) -> str:
    """Return the room a module belongs to: churn_local's second level, or the top-level package."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "churn_local" and len(parts) > 1 else parts[0]


def source_files() -> list[Path]:
    """Return every Python file of the product, the local tooling, the benchmarks and the hooks."""
    return sorted(path for folder in SOURCES for path in (PROJECT_ROOT / folder).rglob("*.py"))


def _compat_imports(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and isinstance(node.type, ast.Name) and node.type.id == "ImportError":
            skipped.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return skipped


def imported_modules(path: Path, known: set[str]) -> Iterator[str]:
    """Yield every module of ours that a file imports, anywhere in it (`from a import b` counts a.b if b is one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _compat_imports(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [node.module, *(name for name in submodules if name in known)]
        else:
            continue
        yield from (name for name in names if name.split(".")[0] in OURS)


@pytest.fixture(scope="module")
def imports() -> dict[str, set[str]]:
    """Map each of our modules to the modules of ours it imports."""
    files = {module_name(path): path for path in source_files()}
    return {module: set(imported_modules(path, set(files))) - {module} for module, path in files.items()}


def test_every_room_is_placed_on_a_layer(imports: dict[str, set[str]]) -> None:
    rooms = {room_of(module) for module in imports}
    assert rooms - set(LAYER_OF) == set(), "a new room: give it a layer in LAYERS (and a one-line __init__)"


def test_no_room_imports_a_room_above_it_or_beside_it(imports: dict[str, set[str]]) -> None:
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in imports.items()
        for target in targets
        if room_of(target) != room_of(module) and LAYER_OF[room_of(target)] >= LAYER_OF[room_of(module)]
    )
    assert wrong == []


def test_no_module_reaches_itself_through_its_imports(imports: dict[str, set[str]]) -> None:
    # A package's __init__ re-exporting its own modules is how a package shows its face, not a cycle.
    edges = {
        module: {target for target in targets if target in imports and not module.startswith(f"{target}.")}
        for module, targets in imports.items()
    }
    cycles = []
    for start in edges:
        seen: set[str] = set()
        stack = list(edges[start])
        while stack:
            module = stack.pop()
            if module == start:
                cycles.append(start)
                break
            if module not in seen:
                seen.add(module)
                stack.extend(edges[module])
    assert cycles == []


def test_every_room_says_in_one_line_what_it_is_for() -> None:
    for init in sorted((PROJECT_ROOT / "local" / "churn_local").glob("*/__init__.py")):
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert docstring, f"{init.parent.name}/__init__.py has no docstring"
        assert len(docstring.splitlines()[0]) <= 120
