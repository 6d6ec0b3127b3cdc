"""Compare a file of customers with the model's drift baseline: PSI per feature and for the score, a table, a report.

Usage: ``python -m churn_local.drift.check IN [--artifacts artifacts] [--alarm-psi 0.2]`` (``make drift IN=...``)

IN is a CSV of customers (a header line, as data/churn.txt), JSON Lines of customers, or what `make score` wrote (its
CSV or JSON Lines, which carry each row's score). Scores the file lacks are computed the function's way with the
artifacts (churn_local.release.reference_cases.FunctionScorer), for the rows the model can score. The population
stability index of every feature and of the score comes from churn_api.drift, the code the deployed drift check runs,
against the baseline `make train` wrote (baseline.json in the artifacts folder, its sha256 checked against
metadata.json). Prints the table sorted by PSI, writes IN's name + ``.drift.png`` and ``.drift.json`` beside it, and
exits 1 when any PSI is over the alarm level (0 otherwise, 2 when the file cannot be read): a cron job or CI can gate
on it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from churn_api.drift import DEFAULT_ALARM_PSI, SCORE, Baseline, Binned, drifted
from churn_api.integrity import sha256_hex
from churn_api.models import Customer
from churn_local.constants import BASELINE_FILE, DEFAULT_ARTIFACTS, METADATA_FILE
from churn_local.drift import plot
from churn_local.release.reference_cases import FunctionScorer

MOVING_PSI = 0.1


class DriftInputError(RuntimeError):
    """The file or the artifacts cannot be read; the message says why."""


@dataclass(frozen=True)
class Population:
    """The file's customers, column by column, and the scores of those the model can score."""

    rows: pd.DataFrame
    scores: list[float]
    unscored: int


def load_baseline(artifacts: Path) -> Baseline:
    """Read the artifacts' baseline, refusing one that is not the file metadata.json describes."""
    try:
        data = (artifacts / BASELINE_FILE).read_bytes()
        described = json.loads((artifacts / METADATA_FILE).read_text(encoding="utf-8"))["artifacts"][BASELINE_FILE]
    except (OSError, KeyError, ValueError) as exc:
        raise DriftInputError(
            f"{artifacts} holds no drift baseline described by metadata.json: run `make train`"
        ) from exc
    if described["sha256"] != sha256_hex(data):
        raise DriftInputError(f"{artifacts / BASELINE_FILE} is not the file metadata.json describes: retrain")
    return Baseline.from_bytes(data)


def read_rows(path: Path) -> tuple[pd.DataFrame, pd.Series | None]:
    """Read the customers (every value as text) and, for make score's output, each row's score."""
    try:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            if records and all(isinstance(r, dict) and isinstance(r.get("row"), dict) for r in records):
                frame = pd.DataFrame([r["row"] for r in records]).astype(str)
                return frame, pd.Series([r.get("score") for r in records], dtype="float64")
            frame = pd.DataFrame(records).astype(str)
            return frame, None
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise DriftInputError(f"cannot read {path}: {exc}") from exc
    if "score" in frame.columns:
        return frame, pd.to_numeric(frame["score"].replace("", None), errors="coerce")
    return frame, None


def population(path: Path, artifacts: Path, features: Sequence[str]) -> Population:
    """Read the file and find each row's score: its own (make score's output), or the artifacts' model's."""
    frame, scores = read_rows(path)
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise DriftInputError(f"{path} lacks the columns {', '.join(missing)}")
    if scores is not None:
        scored = [float(s) for s in scores.dropna()]
        return Population(frame, scored, int(scores.isna().sum()))
    customers: list[Customer] = []
    for record in frame.to_dict(orient="records"):
        try:
            customers.append(Customer.model_validate(record))
        except ValidationError:
            continue
    scorer = FunctionScorer(artifacts)
    scorable = [c for c in customers if not scorer.transformation.category_problems(c)]
    return Population(frame, scorer.scores(scorable) if scorable else [], len(frame) - len(scorable))


def numeric_columns(frame: pd.DataFrame, bins: dict[str, Binned]) -> dict[str, list[Any]]:
    """Return each feature's values as its bins read them: numbers as floats (unreadable ones left out), else text."""
    columns: dict[str, list[Any]] = {}
    for name, binned in bins.items():
        if binned.categories is not None:
            columns[name] = frame[name].str.strip().tolist()
        else:
            columns[name] = pd.to_numeric(frame[name], errors="coerce").dropna().tolist()
    return columns


def table(report: dict[str, float], alarm_psi: float) -> str:
    """Render the report as a table sorted by PSI, the largest first."""
    lines = [f"{'feature':<16}{'PSI':>9}  status"]
    for name, value in sorted(report.items(), key=lambda kv: -kv[1]):
        status = "DRIFTED" if value > alarm_psi else "moving" if value > MOVING_PSI else "stable"
        lines.append(f"{name:<16}{value:>9.4f}  {status}")
    return "\n".join(lines)


def check(path: Path, artifacts: Path, alarm_psi: float) -> tuple[dict[str, float], list[str], Path]:
    """Compute the report, write the PNG and JSON beside the input; return the PSI, the drifted names and the PNG."""
    baseline = load_baseline(artifacts)
    people = population(path, artifacts, list(baseline.features))
    columns = numeric_columns(people.rows, baseline.features)
    # Counted once: the PSI and the plot's bars come from the same counts.
    actual = baseline.counts(columns, people.scores if people.scores else None)
    report = baseline.stability_of(actual)
    names = drifted(report, alarm_psi)
    title = f"{path.name}: {len(people.rows)} rows ({len(people.scores)} scored) against the training baseline"
    png = path.with_name(path.name + ".drift.png")
    png.write_bytes(plot.render(report, {**baseline.features, SCORE: baseline.score}, actual, alarm_psi, title))
    summary = {
        "input": path.name,
        "rows": len(people.rows),
        "scored": len(people.scores),
        "alarm_psi": alarm_psi,
        "psi": dict(sorted(report.items(), key=lambda kv: -kv[1])),
        "drifted": names,
    }
    path.with_name(path.name + ".drift.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return report, names, png


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m churn_local.drift.check", description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="customers (CSV or JSON Lines), or make score's output")
    parser.add_argument("--artifacts", type=Path, default=DEFAULT_ARTIFACTS, help="the model (default: artifacts/)")
    parser.add_argument(
        "--alarm-psi", type=float, default=DEFAULT_ALARM_PSI, help="PSI over which to fail (default: %(default)s)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Check from the command line: 0 stable, 1 drifted, 2 unreadable."""
    args = parse_args(argv)
    try:
        report, names, png = check(args.input, args.artifacts, args.alarm_psi)
    except DriftInputError as exc:
        print(f"drift: {exc}", file=sys.stderr)
        return 2
    print(table(report, args.alarm_psi))
    print(f"\nreport: {png}")
    if names:
        print(f"drifted (PSI over {args.alarm_psi:g}): {', '.join(names)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
