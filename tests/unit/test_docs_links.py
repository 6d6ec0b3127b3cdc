"""Every repository path, module and link the prose names exists: README.md, docs/*.md, docstrings and comments.

The convention (docs/development.md, "Paths in prose"): a path in this repository is written from its root
(`src/churn_api/budget.py`); a path in another repository carries that repository's name first
(`aws/aws-sam-cli: samcli/local/apigw/local_apigw_service.py`); a module is named as it is imported
(`churn_local.stack.serve`). A relative Markdown link resolves from its page, and its `#anchor` is a heading of the
target page as GitHub makes anchors.
"""

from __future__ import annotations

import ast
import fnmatch
import glob
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

from churn_local.constants import PROJECT_ROOT
from tests.docs_pages import anchors, headings, pages, prose_lines, read, repository_files

PYTHON_ROOTS = ("src", "local", "benchmarks", "hooks", "tests")
# Comments of the files every command reads, besides the Python sources and the pages.
COMMENTED = ("Makefile", "samconfig.toml", "template.yaml", "pyproject.toml", ".pre-commit-config.yaml", ".ci/run")
# A file name ending so is a file wherever it stands; a word/word without one (text/csv, rows/s) is a path only
# when it starts with a folder of this repository.
FILE_ENDINGS = ("py", "md", "json", "yaml", "yml", "toml", "txt", "js", "html", "css", "png", "ini", "cfg", "sh")

SEGMENT = r"[A-Za-z0-9_.*-]+"
# Not inside a URL, an absolute or home path, an ARN, a shell variable or a <placeholder>.
STARTS = r"(?<![\w./:~@$<>{}\\-])"
ENDS = r"(?![\w/<{])"
PATH = re.compile(rf"{STARTS}((?:{SEGMENT}/)+(?:{SEGMENT})?|[\w*-][\w.*-]*\.py){ENDS}")
# owner/name: path, the path perhaps wrapped onto the next line of a comment.
OTHER_REPOSITORY = re.compile(rf"{STARTS}([\w.-]+)/[\w.-]+:\s+(?:#\s*)?`?((?:{SEGMENT}/)*{SEGMENT})")
MODULE = re.compile(r"(?<![\w./-])((?:churn_api|churn_local|benchmarks|tests)(?:\.[A-Za-z_]\w*)+)")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
# A section named after its page: docs/api.md "Errors", docs/api.md's "Errors", (README, "Where to change what").
SECTION_REFERENCE = re.compile(r"\b(README|docs/\w+\.md)(?:\.md)?(?:'s|,)?\s+\"([^\"]+)\"")
PACKAGE_ROOTS = {
    "churn_api": "src/churn_api",
    "churn_local": "local/churn_local",
    "benchmarks": "benchmarks",
    "tests": "tests",
}


def ignored_roots() -> set[str]:
    """Return the folders .gitignore names: what commands make (artifacts/, .aws-sam/...), never checked."""
    lines = (PROJECT_ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    return {line.strip().strip("/") for line in lines if line.strip().endswith("/") and "*" not in line}


FILES = repository_files()
TOP_LEVEL = {name.split("/", 1)[0] for name in FILES} - {".gitignore"}
BASENAMES = {name.rsplit("/", 1)[-1] for name in FILES}
IGNORED = ignored_roots()


def comment_blocks(comments: list[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """Join comments on consecutive lines into one block, so a path wrapped onto the next line reads whole."""
    block: list[tuple[int, str]] = []
    for number, text in comments:
        if block and number != block[-1][0] + 1:
            yield block[0][0], "\n".join(text for _, text in block)
            block = []
        block.append((number, text.lstrip("#")))
    if block:
        yield block[0][0], "\n".join(text for _, text in block)


def python_prose(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (first line, text) of every docstring and block of comments of a Python file."""
    source = path.read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                yield from [(first.lineno, first.value.value)] if isinstance(first.value.value, str) else []
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    yield from comment_blocks([(t.start[0], t.string) for t in tokens if t.type == tokenize.COMMENT])


def hash_comments(text: str) -> Iterator[tuple[int, str]]:
    """Yield (first line, block) of the comments of a Makefile, TOML, YAML or shell file: what follows a #."""
    lines = enumerate(text.splitlines(), start=1)
    yield from comment_blocks([(n, m[1]) for n, line in lines if (m := re.search(r"(?:^|\s)#(?!!)(.*)", line))])


def prose() -> Iterator[tuple[str, int, str]]:
    """Yield (file, first line, text) of all the prose the test reads: whole pages, docstrings, comment blocks."""
    for page in pages():
        yield page.relative_to(PROJECT_ROOT).as_posix(), 1, page.read_text(encoding="utf-8")
    for name in FILES:
        if name.endswith(".py") and name.split("/", 1)[0] in PYTHON_ROOTS:
            for number, text in python_prose(PROJECT_ROOT / name):
                yield name, number, text
    for name in COMMENTED:
        for number, text in hash_comments(read(name)):
            yield name, number, text


def path_problem(path: str) -> str | None:
    """Return why a path named in prose is wrong, or None when it exists (or is no repository path)."""
    path = path.rstrip(".").removeprefix("./")
    first, _, rest = path.partition("/")
    if first in IGNORED or first == ".." or not path:
        return None
    if "/" not in path:  # a bare module file name: some file of this repository has it
        return None if fnmatch.filter(BASENAMES, path) else "no file of this repository has this name"
    if first not in TOP_LEVEL:
        if path.rsplit(".", 1)[-1] not in FILE_ENDINGS:
            return None
        return "not a path from the repository's root (another repository's: prefix it with owner/name: )"
    if "*" in path:
        return None if glob.glob(path, root_dir=PROJECT_ROOT) else "matches no file"
    target = PROJECT_ROOT / path
    if path.endswith("/"):
        return None if target.is_dir() else "no such folder"
    return None if target.exists() else "no such file or folder"


def module_problem(dotted: str) -> str | None:
    """Return why a dotted module named in prose is wrong: no such module, or no such name in its source."""
    parts = dotted.split(".")
    base = PROJECT_ROOT / PACKAGE_ROOTS[parts[0]]
    for index, part in enumerate(parts[1:], start=1):
        if (base / part).is_dir():
            base = base / part
        elif (base / f"{part}.py").is_file():
            base = base / f"{part}.py"
        else:  # an attribute: a name the module's source holds (its later parts are the attribute's own)
            source = base / "__init__.py" if base.is_dir() else base
            if source.is_file() and re.search(rf"\b{part}\b", source.read_text(encoding="utf-8")):
                return None
            return f"no module or name {'.'.join(parts[: index + 1])}"
    return None


def named(text: str) -> Iterator[tuple[int, str, str | None]]:
    """Yield (offset, name, problem) of each path and module a text names; another repository's paths are left out."""
    blank = OTHER_REPOSITORY.sub(lambda m: m[0] if m[1] in TOP_LEVEL else re.sub(r"[^\n]", " ", m[0]), text)
    for match in PATH.finditer(blank):
        yield match.start(), match[1], path_problem(match[1])
    for match in MODULE.finditer(text):
        yield match.start(), match[1], module_problem(match[1])


def test_every_path_and_module_named_in_the_prose_exists() -> None:
    problems = [
        f"{name}:{first + text[:offset].count(chr(10))}: {found}: {problem}"
        for name, first, text in prose()
        for offset, found, problem in named(text)
        if problem
    ]
    assert problems == []


def link_problem(page: Path, target: str) -> str | None:
    """Return why a relative Markdown link is broken: no such file, or no such heading in the page it opens."""
    if re.match(r"[a-z]+:", target):
        return None  # http(s):, mailto: - not this repository's
    path, _, anchor = target.partition("#")
    file = (page.parent / path).resolve() if path else page
    if not file.exists():
        return "no such file"
    if not file.is_relative_to(PROJECT_ROOT):
        return "outside the repository"
    if anchor and (file.suffix != ".md" or anchor not in anchors(file.read_text(encoding="utf-8"))):
        return f"no heading #{anchor} in {file.relative_to(PROJECT_ROOT)}"
    return None


@pytest.mark.parametrize("page", pages(), ids=lambda page: page.name)
def test_every_relative_link_opens_a_file_and_its_heading(page: Path) -> None:
    problems = [
        f"{page.name}:{number}: ({target}): {problem}"
        for number, line in prose_lines(page.read_text(encoding="utf-8"))
        for target in LINK.findall(line)
        if (problem := link_problem(page, target))
    ]
    assert problems == []


def test_every_section_named_after_its_page_is_a_heading_of_that_page() -> None:
    titles = {
        page.relative_to(PROJECT_ROOT).as_posix(): {title for _, title in headings(page.read_text(encoding="utf-8"))}
        for page in pages()
    }
    problems = [
        f'{name}:{first + text[: match.start()].count(chr(10))}: {match[1]} "{match[2]}"'
        for name, first, text in prose()
        for match in SECTION_REFERENCE.finditer(text)
        if " ".join(match[2].split()) not in titles.get("README.md" if match[1] == "README" else match[1], set())
    ]
    assert problems == []


def test_the_headings_github_makes_anchors_of_are_read_as_github_reads_them() -> None:
    page = "# A `code` title\n\n```\n# not a heading\n```\n## Errors\n## Errors\n### [Linked](x.md) & done!\n"
    assert anchors(page) == {"a-code-title", "errors", "errors-1", "linked--done"}


@pytest.mark.parametrize(
    "prose",
    [
        "`ChurnPredictor.score_records` (`src/churn_api/service.py`)",
        "SAM CLI's counterpart: samcli/local/apigw/local_apigw_predictor.py.",
        "The state machine (statemachine/bulk_scoring.asl.yaml) reads the uploaded file",
        "`local/churn_local/services/`: `lambda_context.py` (the context)",
        "the build run by churn_local.services.lambda_runner",
        "a sampled request: `tests.support.lambda_runtime_environment`",
        "see `aws/aws-sam-cli: samcli/local/apigw/local_apigw_service.py` and `tests/unit/test_nothing.py`",
    ],
)
def test_the_rot_issue_20_found_is_caught(prose: str) -> None:
    assert [problem for _, _, problem in named(prose) if problem]


def test_what_exists_or_lives_elsewhere_is_not_reported() -> None:
    prose = """`src/churn_api/predictor.py`, `events/*.json`, `tests/unit/`, churn_api.config.Settings, budget.py,
    aws/aws-sam-cli: samcli/local/apigw/local_apigw_service.py, `artifacts/metadata.json`, s3://b/k/x.py, /var/task,
    text/csv, 5/6 of the limit, output/<execution>/part-<row>.jsonl, ~/.cache/x.py, ../shared/reference/"""
    assert [(found, problem) for _, found, problem in named(prose) if problem] == []
