"""Where a bulk run stands, kept beside its output so that a rerun continues after the last whole chunk.

After each chunk the output is flushed and synced, then `<output>.progress` is replaced atomically: it names the
input (path, size, modification time), the rows done, the input offset to read on from and the output's length
then. A rerun cuts the output back to that length (what an interruption left of a chunk goes), seeks the input to
that offset and goes on: the output never holds half a row, nor a row twice.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

VERSION = 1


class ResumeError(RuntimeError):
    """The output cannot be continued: the message is the one line the user sees."""


@dataclass(frozen=True)
class InputIdentity:
    """What tells that the input is still the file a run started on."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> InputIdentity:
        """Return the identity of the file as it is now."""
        stat = path.stat()
        return cls(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class Progress:
    """A run's state after its last whole chunk."""

    input: InputIdentity
    format: str
    rows: int = 0
    scored: int = 0
    failed: int = 0
    input_offset: int = 0
    output_offset: int = 0
    complete: bool = False

    def after(self, rows: int, failed: int, input_offset: int, output_offset: int) -> Progress:
        """Return the progress once a chunk of `rows` rows, `failed` of them refused, is written."""
        return Progress(
            self.input,
            self.format,
            self.rows + rows,
            self.scored + rows - failed,
            self.failed + failed,
            input_offset,
            output_offset,
        )

    def completed(self) -> Progress:
        """Return this progress marked complete."""
        return replace(self, complete=True)


def progress_path(output: Path) -> Path:
    """Return where the progress of the run writing `output` is kept."""
    return output.with_name(output.name + ".progress")


def save(output: Path, progress: Progress) -> None:
    """Replace the progress file atomically (a crash leaves the old one or the new one, whole)."""
    target = progress_path(output)
    temporary = target.with_name(target.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as file:
        json.dump({"version": VERSION, **asdict(progress)}, file)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(target)


def load(output: Path) -> Progress | None:
    """Return the saved progress, or None when there is none."""
    path = progress_path(output)
    if not path.exists():
        return None
    try:
        saved: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if saved.pop("version") != VERSION:
            raise ValueError("another version")
        return Progress(**{**saved, "input": InputIdentity(**saved["input"])})
    except (ValueError, KeyError, TypeError) as exc:
        raise ResumeError(f"{path} is not a progress file this tool reads ({exc}); pass --restart") from exc


def start(output: Path, input_path: Path, fmt: str, *, restart: bool) -> Progress | None:
    """Return the progress to continue from, or None to start a new output; refuse what cannot be continued."""
    identity = InputIdentity.of(input_path)
    saved = None if restart else load(output)
    if saved is None:
        if output.exists() and not restart:
            raise ResumeError(f"{output} exists and no run of this tool is writing it: remove it or pass --restart")
        return None
    if saved.input != identity or saved.format != fmt:
        raise ResumeError(
            f"{output} was started from another input ({saved.input.path}, {saved.input.size} bytes, or since "
            "modified): pass --restart to score this one from the start"
        )
    if not output.exists() or output.stat().st_size < saved.output_offset:
        raise ResumeError(f"{output} is shorter than its progress file says: pass --restart")
    return saved
