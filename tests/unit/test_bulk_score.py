"""make score's command line: what it says and returns when it cannot start."""

from __future__ import annotations

from pathlib import Path

import pytest

from churn_local.bulk.score import NoModel, local_stack_environment, main


def test_without_trained_artifacts_the_local_mode_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(NoModel, match="make train"):
        local_stack_environment(tmp_path, "http://127.0.0.1:1", "http://127.0.0.1:2")


def test_without_the_functions_variables_the_environment_mode_names_the_first_missing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an environment without ENDPOINT_NAME
    monkeypatch.delenv("ENDPOINT_NAME", raising=False)
    source = tmp_path / "in.csv"
    source.write_text("State\n", encoding="utf-8")
    # WHEN make score FROM_ENV=1 runs THEN it stops before reading anything, naming the variable
    assert main([str(source), str(tmp_path / "out.csv"), "--from-environment"]) == 1
    assert "ENDPOINT_NAME" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


def test_a_file_of_unknown_kind_is_refused_before_anything_is_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "customers.xlsx"), str(tmp_path / "out.csv")]) == 1
    assert "--format" in capsys.readouterr().err
