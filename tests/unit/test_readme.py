"""The README is a front door: short, the map and "Where to change what" on its first two screens, every page linked.

The map repeats what each room of local/churn_local says of itself in its `__init__.py`: the docstring is the one
source, the map's row its copy, held here.
"""

from __future__ import annotations

import ast

from churn_local.constants import PROJECT_ROOT
from tests.docs_pages import read, repository_files, section, table

MAX_LINES = 200
TWO_SCREENS = 100  # lines a newcomer sees before scrolling twice
README = read("README.md")
LOCAL = PROJECT_ROOT / "local" / "churn_local"


def map_rows() -> dict[str, str]:
    """Return each path the map names in its first column (several in one row each get the row) -> the row's text."""
    rows = {}
    for where, what in table(section(README, "Map of the repository"), "| where |"):
        for path in where.split(", "):
            rows[path.strip("`")] = what
    return rows


def test_the_readme_is_at_most_200_lines() -> None:
    assert len(README.splitlines()) <= MAX_LINES


def test_the_map_and_where_to_change_what_start_on_the_first_two_screens() -> None:
    starts = [n for n, line in enumerate(README.splitlines(), 1) if line.startswith("## ")]
    titled = {README.splitlines()[n - 1].removeprefix("## "): n for n in starts}
    assert titled["Map of the repository"] < titled["Where to change what"] <= TWO_SCREENS


def test_the_map_names_every_top_level_folder() -> None:
    folders = {name.split("/", 1)[0] for name in repository_files() if "/" in name}
    named = {path.split("/", 1)[0] for path in map_rows()}
    assert folders - named == set()


def test_the_map_gives_every_room_the_line_its_init_says_of_it() -> None:
    rows = map_rows()
    for init in sorted(LOCAL.glob("*/__init__.py")):
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert docstring, init
        assert rows[f"local/churn_local/{init.parent.name}/"] == docstring.splitlines()[0]


def test_the_readme_links_every_docs_page() -> None:
    pages = {path.name for path in (PROJECT_ROOT / "docs").glob("*.md")}
    assert {name for name in pages if f"](docs/{name})" not in README} == set()
