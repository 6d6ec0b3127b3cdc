"""The emulator's pieces that need no engine: the template it is given, its settings, processes, the API's URL."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from churn_local.constants import PROJECT_ROOT
from churn_local.containers import processes
from churn_local.emulator import engine
from churn_local.emulator.template import EngineTemplateError, for_engine, without_resources, write_for_engine
from churn_local.release.outputs import StackInfo
from churn_local.template import expansion

WHERE = expansion.Deployment("us-east-1", engine.ACCOUNT_ID, "churn-api")
PINS = {"EndpointName": "churn-xgboost", "TransformBucket": "churn-api-emulated"}


def engine_template(**parameters: str) -> dict[str, Any]:
    """Return template.yaml as the emulator is given it for these parameters."""
    return for_engine(expansion.load_template(), {**PINS, **parameters}, WHERE)


def test_the_language_extensions_are_applied_and_dropped_for_the_engine() -> None:
    plain, snap = engine_template(), engine_template(EnableSnapStart="true")
    assert plain["Transform"] == [expansion.SAM_TRANSFORM]
    assert "AutoPublishAlias" not in plain["Resources"]["ChurnFunction"]["Properties"]
    assert snap["Resources"]["ChurnFunction"]["Properties"]["AutoPublishAlias"] == "live"
    assert "Fn::If" not in json.dumps(plain)


def test_metric_math_alarms_are_left_out_and_plain_ones_kept() -> None:
    source = expansion.load_template()
    math = {n for n, r in source["Resources"].items() if "Metrics" in (r.get("Properties") or {})}
    template = engine_template(EnableSnapStart="true")
    assert math == {"ApiErrorRateAlarm", "ServerErrorsAlarm"}
    assert not math & set(template["Resources"])
    assert {"VersionErrorsAlarm", "VersionDurationAlarm"} <= set(template["Resources"])


def test_a_resource_left_out_must_not_be_named_by_what_stays() -> None:
    template = {"Resources": {"A": {"Type": "X"}, "B": {"Type": "Y", "Properties": {"P": {"Fn::Sub": "${A.Arn}"}}}}}
    with pytest.raises(EngineTemplateError, match="B -> A"):
        without_resources(template, ["A"])


def test_a_nested_application_is_resolved_and_pointed_at_its_resolved_child(tmp_path: Path) -> None:
    # GIVEN a parent that passes a literal to a local child whose Fn::If depends on it (as sam build leaves them)
    child = {
        "Transform": [expansion.LANGUAGE_EXTENSIONS, expansion.SAM_TRANSFORM],
        "Parameters": {"Hosted": {"Type": "String"}},
        "Conditions": {"IsHosted": {"Fn::Equals": [{"Ref": "Hosted"}, "true"]}},
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": {"Fn::If": ["IsHosted", "a", "b"]}}}
        },
    }
    parent = {
        "Transform": [expansion.LANGUAGE_EXTENSIONS, expansion.SAM_TRANSFORM],
        "Resources": {
            "Model": {
                "Type": "AWS::Serverless::Application",
                "Properties": {"Location": "Model/template.yaml", "Parameters": {"Hosted": "true"}},
            }
        },
    }
    (tmp_path / "Model").mkdir()
    (tmp_path / "Model" / "template.yaml").write_text(yaml.safe_dump(child), encoding="utf-8")
    (tmp_path / "template.yaml").write_text(yaml.safe_dump(parent), encoding="utf-8")
    # WHEN the parent is written for the engine
    written = json.loads(write_for_engine(tmp_path / "template.yaml", {}, WHERE).read_text(encoding="utf-8"))
    # THEN its Location names the child resolved with the value passed
    location = written["Resources"]["Model"]["Properties"]["Location"]
    assert location == "Model/template.emulated.json"
    resolved = json.loads((tmp_path / location).read_text(encoding="utf-8"))
    assert resolved["Resources"]["Topic"]["Properties"]["DisplayName"] == "a"


def test_the_engine_is_told_every_setting_and_binds_only_the_given_addresses() -> None:
    settings = engine.EngineSettings(4566, ("127.0.0.1", "172.17.0.1"), "http://172.17.0.1:8080")
    environment = engine.engine_environment(settings)
    command = engine.engine_command(settings)
    assert set(engine.SETTINGS) <= set(environment)
    assert (environment["IOT_MTLS_ENABLED"], environment["SFTP_ENABLED"], environment["LAMBDA_EXECUTOR"]) == (
        "0",
        "0",
        "docker",
    )
    assert not {name for name in environment if name.startswith(("AWS_", "HTTP", "http"))}
    binds = [command[i + 1] for i, part in enumerate(command) if part == "--bind"]
    assert binds == ["127.0.0.1:4566", "172.17.0.1:4566"]
    assert "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://172.17.0.1:8080" in environment["LAMBDA_DOCKER_FLAGS"]


def test_a_listening_socket_of_this_process_is_seen_and_a_foreign_pid_never_matches() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert ("127.0.0.1", server.getsockname()[1]) in processes.listening(os.getpid())
    assert not processes.is_running(os.getpid(), "no-such-marker-in-pytest's-arguments")


def test_the_api_url_is_the_stacks_own_unless_an_engine_serves_it() -> None:
    stack = StackInfo(
        "s",
        "CREATE_COMPLETE",
        {"PredictUrl": "https://abc.execute-api.us-east-1.amazonaws.com/Prod/predict", "ChurnApiId": "abc"},
        {},
    )
    assert stack.api_url() == "https://abc.execute-api.us-east-1.amazonaws.com/Prod"
    assert stack.api_url("http://127.0.0.1:4566/") == "http://127.0.0.1:4566/_aws/execute-api/abc/Prod"


def test_the_end_to_end_page_names_every_setting_the_engine_is_given() -> None:
    # The page repeats the settings in prose; this holds the copy to engine.SETTINGS.
    page = (PROJECT_ROOT / "docs" / "end-to-end.md").read_text(encoding="utf-8")
    assert [name for name in engine.SETTINGS if f"`{name}" not in page] == []
    assert f"LAMBDA_ACCOUNT_CONCURRENCY={engine.DEFAULT_CONCURRENCY}" in page


def test_a_process_started_detached_is_alive_at_once_and_stopped_by_its_pid(tmp_path: Path) -> None:
    # GIVEN a process started in the background, its output in a log
    pid = processes.start_detached(["sleep", "30"], {"PATH": "/usr/bin:/bin"}, tmp_path / "sleep.log", tmp_path)
    # THEN it counts as alive from the first instant (before its exec shows in /proc), and stop() ends it by pid
    assert processes.alive(pid, "sleep")
    assert processes.stop(pid, "sleep", timeout_s=5) == "stopped"
    assert not processes.alive(pid, "sleep") and not processes.is_running(pid, "sleep")
