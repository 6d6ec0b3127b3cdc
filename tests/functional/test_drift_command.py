"""`make drift`: the held-out rows do not alarm, a shifted copy does, naming what moved, with a PNG report beside it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from churn_local.constants import PROJECT_ROOT
from churn_local.drift import check
from tests.drift_data import as_csv, held_out, shifted

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, trained_metadata: dict[str, Any]) -> dict[str, Path]:
    """Write the held-out rows, and the shifted copy of them, as data/churn.txt spells rows."""
    folder = tmp_path_factory.mktemp("drift")
    rows = held_out(trained_metadata)
    (folder / "held-out.csv").write_text(as_csv(rows), encoding="utf-8")
    (folder / "shifted.csv").write_text(as_csv(shifted(rows)), encoding="utf-8")
    return {"held-out": folder / "held-out.csv", "shifted": folder / "shifted.csv"}


def test_the_held_out_rows_do_not_alarm(
    files: dict[str, Path], trained_artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check.main([str(files["held-out"]), "--artifacts", str(trained_artifacts)]) == 0
    table = capsys.readouterr().out.splitlines()
    # Every feature and the score, sorted by PSI, all under the alarm level
    rows = [line.split() for line in table[1:] if line and not line.startswith("report")]
    values = [float(row[-2]) for row in rows]
    assert values == sorted(values, reverse=True) and max(values) < 0.2
    assert {row[-1] for row in rows} == {"stable"}
    assert files["held-out"].with_name("held-out.csv.drift.png").read_bytes().startswith(PNG_SIGNATURE)


def test_the_shifted_copy_alarms_naming_day_minutes_and_state(files: dict[str, Path], trained_artifacts: Path) -> None:
    assert check.main([str(files["shifted"]), "--artifacts", str(trained_artifacts)]) == 1
    summary = json.loads(files["shifted"].with_name("shifted.csv.drift.json").read_text(encoding="utf-8"))
    assert set(summary["drifted"]) == {"Day Mins", "State"}
    assert summary["rows"] == summary["scored"] == 1250
    assert files["shifted"].with_name("shifted.csv.drift.png").read_bytes().startswith(PNG_SIGNATURE)


def test_a_higher_alarm_level_lets_the_smaller_shift_pass(files: dict[str, Path], trained_artifacts: Path) -> None:
    report, names, _ = check.check(files["shifted"], trained_artifacts, alarm_psi=0.5)
    assert names == ["State"] and 0.2 < report["Day Mins"] < 0.5


def test_make_scores_output_is_read_with_its_own_scores(
    files: dict[str, Path], trained_artifacts: Path, tmp_path: Path
) -> None:
    # GIVEN make score's JSON Lines output: each row with its answer (a score, or none) and the row as read
    header, *body = files["held-out"].read_text(encoding="utf-8").splitlines()
    lines = []
    for place, line in enumerate(body):
        row = dict(zip(header.split(","), line.split(","), strict=True))
        score = None if place % 10 == 0 else 0.5
        lines.append(json.dumps({"index": place, "score": score, "error": None, "row": row}))
    scored = tmp_path / "scored.jsonl"
    scored.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # WHEN make drift reads it
    report, names, _ = check.check(scored, trained_artifacts, alarm_psi=0.2)
    # THEN the features are the rows' and the scores are the file's (all 0.5: one bin, far from the baseline)
    assert report["State"] < 0.2
    assert names == ["score"]


def test_make_drift_exits_non_zero_on_the_shifted_copy(files: dict[str, Path], trained_artifacts: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    command = ["make", "--no-print-directory", "-o", ".venv/.installed-stamp", "drift", f"IN={files['shifted']}"]
    run = {"cwd": PROJECT_ROOT, "env": env, "capture_output": True, "text": True, "timeout": 300, "check": False}
    result = subprocess.run([*command, f"ARTIFACTS={trained_artifacts}"], **run)  # type: ignore[call-overload]
    assert result.returncode != 0
    assert "drifted (PSI over 0.2): State, Day Mins" in result.stderr
