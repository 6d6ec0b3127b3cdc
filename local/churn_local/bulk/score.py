"""Score a whole CSV or JSON Lines file with the API's own code: `make score IN=customers.csv OUT=scored.csv`.

Each row gets the answer /predict/batch would give it (churn_api.bulk): valid rows their score, label and churn,
bad rows the API's error code, message and details. The file is read and written in chunks of 1,000 rows (memory
stays bounded whatever its size), and a rerun of the same command continues after the last whole chunk.

Where the model is: the function's own settings (churn_api.config.Settings), loaded and verified by the function's
own TransformationStore (sha256, bucket owner, feature signature, scikit-learn version):
- `--local` (what `make score` does): the stack `make serve` runs, at --s3-url and --endpoint-url, with the
  environment `make serve` gives its function: template.yaml's, pinned to the artifacts folder's published keys.
- `--from-environment`: the function's variables (ENDPOINT_NAME, TRANSFORM_BUCKET, TRANSFORM_KEY, THRESHOLD,
  TRANSFORM_SHA256, FEATURE_SIGNATURE...) and boto3's standard ones (AWS_PROFILE, AWS_REGION...): a deployed model.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from churn_api import budget
from churn_api.budget import ANSWER_MARGIN_S, Deadline
from churn_api.bulk import CHUNK_ROWS, score_rows
from churn_api.composition import churn_predictor, transformation_store
from churn_api.config import ConfigError, Settings
from churn_api.errors import ApiError
from churn_api.predictor import ChurnPredictor
from churn_local.bulk import resume
from churn_local.bulk.files import Chunk, FileError, Format, csv_header_bytes, format_of, output_bytes, reader_for
from churn_local.bulk.progress import ProgressBar
from churn_local.constants import DEFAULT_ARTIFACTS, TEMPLATE

# A chunk's time budget is an API request's: the template's 25 s Timeout less the margin to answer.
CHUNK_BUDGET_S = 25.0 - ANSWER_MARGIN_S
# A chunk whose endpoint or S3 call fails (5xx) is tried this many times in all, waiting its Retry-After between.
CHUNK_ATTEMPTS = 3
DEFAULT_PARALLEL_CHUNKS = 2
FUNCTION = "ChurnFunction"


class NoModel(RuntimeError):
    """The local stack's artifacts or template cannot be read: the message is the one line the user sees."""


class ScoringStopped(RuntimeError):
    """A chunk failed for a reason of the service, not of its rows, on every attempt: the run stops there."""

    def __init__(self, first_row: int, error: ApiError) -> None:
        super().__init__(
            f"stopped at row {first_row:,}: {error.code} ({error.message}; {error.internal or 'no detail'})"
        )
        self.error = error


def local_stack_environment(
    artifacts: Path, s3_url: str, endpoint_url: str, template: Path = TEMPLATE
) -> dict[str, str]:
    """Return the environment `make serve` gives its function, pointed at its local S3 and endpoint.

    The artifacts are checked as `make serve` checks them, and pinned the way it publishes them; the template maps the
    parameters onto the function's variables as the stack's own expansion does.
    """
    from churn_local.lambda_runtime.runtime import handler_environment  # noqa: PLC0415
    from churn_local.release import pins  # noqa: PLC0415
    from churn_local.stack.local_stack import StackSettings, local_aws_environment  # noqa: PLC0415
    from churn_local.template.provider import TemplateError  # noqa: PLC0415 - SAM's translator loads only in this mode

    # samtranslator warns about feature toggles it has no configuration for, on every expansion.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    try:
        stack = StackSettings(artifacts=artifacts, template=template)
        variables = handler_environment(template, **stack.served_parameters(pins.read_artifacts(artifacts)))
    except (pins.PublishError, TemplateError, OSError) as exc:
        raise NoModel(f"cannot score with what `make serve` serves from {artifacts}: {exc}") from exc
    return {**variables, **local_aws_environment(s3_url, endpoint_url)}


def predictor_from(environ: Mapping[str, str]) -> ChurnPredictor:
    """Build the function's predictor from its settings; boto3 reads its endpoints and credentials from os.environ."""
    import boto3  # noqa: PLC0415

    settings = Settings.from_env(environ)
    session = boto3.session.Session()
    s3 = session.client("s3", config=budget.s3_config())
    runtime = session.client("sagemaker-runtime", config=budget.sagemaker_runtime_config())
    return churn_predictor(settings, transformation_store(settings, s3), runtime)


@dataclass(frozen=True)
class Summary:
    """What a run did, and what the whole output holds."""

    rows: int
    scored: int
    failed: int
    run_rows: int
    seconds: float
    resumed_at: int

    def lines(self, output: Path) -> list[str]:
        """Return the summary a person reads."""
        rate = self.run_rows / self.seconds if self.seconds > 0 else 0.0
        resumed = f" (continued from row {self.resumed_at:,})" if self.resumed_at else ""
        return [
            f"{output}: {self.rows:,} rows, {self.scored:,} scored, {self.failed:,} failed",
            f"this run: {self.run_rows:,} rows in {self.seconds:.1f} s, {rate:,.0f} rows/s{resumed}",
        ]


class BulkRun:
    """Score one input file into one output file, chunk by chunk, saving progress after each."""

    def __init__(
        self,
        predictor: ChurnPredictor,
        input_path: Path,
        output: Path,
        *,
        fmt: Format,
        chunk_rows: int = CHUNK_ROWS,
        parallel: int = DEFAULT_PARALLEL_CHUNKS,
        budget_s: float = CHUNK_BUDGET_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.predictor = predictor
        self.input = input_path
        self.output = output
        self.fmt = fmt
        self.chunk_rows = chunk_rows
        self.parallel = parallel
        self.budget_s = budget_s
        self.sleep = sleep

    def run(
        self,
        *,
        restart: bool = False,
        on_start: Callable[[resume.Progress], None] | None = None,
        on_chunk: Callable[[resume.Progress], None] | None = None,
    ) -> Summary:
        """Score what is left of the input; raise ScoringStopped, FileError or ResumeError when it cannot go on."""
        reader = reader_for(self.input, self.fmt)
        progress = resume.start(self.output, self.input, self.fmt, restart=restart)
        if progress is None:
            progress = self._begin(reader.data_offset, csv_header_bytes(reader.header) if self.fmt == "csv" else b"")
        started, resumed_at = time.perf_counter(), progress.rows
        if on_start:
            on_start(progress)
        if not progress.complete:
            with self.output.open("r+b") as out:
                out.truncate(progress.output_offset)  # what an interruption left of a chunk
                out.seek(progress.output_offset)
                chunks = reader.chunks(progress.input_offset, progress.rows, self.chunk_rows)
                for chunk, items in self._scored(chunks):
                    out.write(output_bytes(self.fmt, reader.header, chunk, items))
                    out.flush()
                    os.fsync(out.fileno())
                    failed = sum(item["error"] is not None for item in items)
                    progress = progress.after(len(chunk.rows), failed, chunk.end_offset, out.tell())
                    resume.save(self.output, progress)
                    if on_chunk:
                        on_chunk(progress)
            progress = progress.completed()
            resume.save(self.output, progress)
        seconds = time.perf_counter() - started
        return Summary(progress.rows, progress.scored, progress.failed, progress.rows - resumed_at, seconds, resumed_at)

    def _begin(self, data_offset: int, head: bytes) -> resume.Progress:
        """Start a new output: its header (for CSV), synced, and the progress of a run with no row done."""
        with self.output.open("wb") as out:
            out.write(head)
            out.flush()
            os.fsync(out.fileno())
            offset = out.tell()
        progress = resume.Progress(
            resume.InputIdentity.of(self.input), self.fmt, input_offset=data_offset, output_offset=offset
        )
        resume.save(self.output, progress)
        return progress

    def _scored(self, chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, list[dict[str, Any]]]]:
        """Yield each chunk with its items, in order, scoring up to `parallel` chunks at once."""
        with ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="bulk-chunk") as pool:
            pending: deque[tuple[Chunk, Future[list[dict[str, Any]]]]] = deque()
            try:
                for chunk in chunks:
                    pending.append((chunk, pool.submit(self._score, chunk)))
                    if len(pending) >= self.parallel:
                        done, future = pending.popleft()
                        yield done, future.result()
                while pending:
                    done, future = pending.popleft()
                    yield done, future.result()
            finally:
                for _, future in pending:
                    future.cancel()

    def _score(self, chunk: Chunk) -> list[dict[str, Any]]:
        for attempt in range(1, CHUNK_ATTEMPTS + 1):
            try:
                return score_rows(self.predictor, chunk.records, chunk.indexes, Deadline.after(self.budget_s))
            except ApiError as error:
                if error.status < 500 or attempt == CHUNK_ATTEMPTS:
                    raise ScoringStopped(chunk.first, error) from error
                self.sleep(float(error.retry_after or 1))
        raise AssertionError("unreachable")  # pragma: no cover


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m churn_local.bulk.score", description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="the CSV (with its header) or JSON Lines file to score")
    parser.add_argument("output", type=Path, help="where to write every row with its answer (same format)")
    parser.add_argument("--format", choices=["csv", "jsonl"], help="the input's format (default: by its suffix)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", default=True, help="score on `make serve`'s stack (default)")
    where.add_argument(
        "--from-environment", action="store_true", help="score with the function's variables from the environment"
    )
    parser.add_argument("--s3-url", default="http://127.0.0.1:5000", help="the local stack's S3 (default: %(default)s)")
    parser.add_argument(
        "--endpoint-url", default="http://127.0.0.1:8080", help="the local stack's endpoint (default: %(default)s)"
    )
    parser.add_argument("--artifacts", type=Path, default=DEFAULT_ARTIFACTS, help="what the local stack serves")
    parser.add_argument("--restart", action="store_true", help="score from the start, replacing the output")
    parser.add_argument(
        "--parallel", type=int, default=DEFAULT_PARALLEL_CHUNKS, help="chunks in flight (default: %(default)s)"
    )
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Score the file; 0 when every row has its answer, 1 when the run stopped (a rerun continues), 130 on Ctrl-C."""
    args = parse_args(argv)
    try:
        fmt = format_of(args.input, args.format)
        if not args.from_environment:
            os.environ.pop("AWS_PROFILE", None)
            os.environ.update(local_stack_environment(args.artifacts.resolve(), args.s3_url, args.endpoint_url))
        predictor = predictor_from(os.environ)
        run = BulkRun(predictor, args.input, args.output, fmt=fmt, parallel=max(1, args.parallel))
        with ProgressBar(args.input, sys.stderr) as bar:
            summary = run.run(restart=args.restart, on_start=bar.begin, on_chunk=bar.update)
    except KeyboardInterrupt:
        print(f"interrupted: rerun the same command to continue {args.output}", file=sys.stderr)
        return 130
    except (ScoringStopped, NoModel, FileError, resume.ResumeError, ConfigError, OSError) as exc:
        again = " (rerun the same command to continue)" if isinstance(exc, ScoringStopped) else ""
        print(f"error: {exc}{again}", file=sys.stderr)
        return 1
    for line in summary.lines(args.output):
        print(line)
    return 0


if __name__ == "__main__":
    # A scheduler's SIGTERM stops the run as Ctrl-C does: the output keeps its whole chunks, a rerun continues.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    sys.exit(main())
