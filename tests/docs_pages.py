"""Read the Markdown pages (README.md, docs/*.md) as GitHub renders them: headings, anchors, sections and tables."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from churn_local.constants import PROJECT_ROOT

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# What GitHub drops from a heading's text before it makes the anchor: Markdown links keep their text, code spans
# and bold lose their markers, HTML tags go. (Underscores stay: the pages write no _emphasis_ in a heading.)
LINK_TEXT = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
MARKUP = re.compile(r"<[^>]+>|[`*]")


def pages() -> list[Path]:
    """Return the README and every page of docs/."""
    return [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]


def read(page: str) -> str:
    """Return the text of a page named from the repository's root, e.g. "docs/api.md"."""
    return (PROJECT_ROOT / page).read_text(encoding="utf-8")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """Return (line number, line) of the lines outside fenced code blocks."""
    outside, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            outside.append((number, line))
    return outside


def headings(text: str) -> list[tuple[int, str]]:
    """Return (level, text as rendered) of each ATX heading outside code blocks, in order."""
    found = []
    for _, line in prose_lines(text):
        if match := HEADING.match(line):
            found.append((len(match[1]), MARKUP.sub("", LINK_TEXT.sub(r"\1", match[2])).strip()))
    return found


def slug(heading: str) -> str:
    """Return GitHub's anchor for a heading's rendered text: lowercase, punctuation dropped, each space a hyphen."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Return every anchor of a page; a repeated heading gets -1, -2 ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for _, heading in headings(text):
        base = slug(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def section(text: str, heading: str) -> str:
    """Return what stands under the heading named (any level) up to the next heading of its level or above."""
    lines = text.splitlines()
    fenced, start, level = False, None, 0
    for index, line in enumerate(lines):
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match and start is None and match[2] == heading:
            start, level = index + 1, len(match[1])
        elif match and start is not None and len(match[1]) <= level:
            return "\n".join(lines[start:index])
    if start is None:
        raise LookupError(f"no heading {heading!r}")
    return "\n".join(lines[start:])


def table_lines(text: str, header: str) -> list[str]:
    """Return the lines of the rows of the first table whose header line starts with `header`, as written."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:  # past the header and its --- line
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def table(text: str, header: str) -> list[list[str]]:
    """Return the cells of each row of the first table whose header line starts with `header`."""
    return [[cell.strip() for cell in line.strip().strip("|").split(" | ")] for line in table_lines(text, header)]


def repository_files() -> list[str]:
    """Return every file git tracks, or would (new files not ignored), from the repository's root."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [name for name in listed if (PROJECT_ROOT / name).is_file()]
