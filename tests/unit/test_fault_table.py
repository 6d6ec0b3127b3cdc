"""One fault table (churn_local.services.faults): the services, `serve --help` and docs/local.md answer from it."""

from __future__ import annotations

import operator

import pytest

from churn_local.constants import PROJECT_ROOT
from churn_local.services import faults
from churn_local.services.faults import ENDPOINT_FAULTS, S3_FAULTS, Fault, FaultKind
from churn_local.services.sagemaker_endpoint import ServiceError, injected
from churn_local.services.xgboost_container import ContainerResponse
from churn_local.stack import serve
from tests.docs_pages import read, section, table_lines

ENDPOINT = "churn-xgboost"
REGION = "eu-west-1"
NAME = operator.attrgetter("name")


@pytest.mark.parametrize("kind", [k for k in ENDPOINT_FAULTS.values() if k.behaviour == faults.ERROR], ids=NAME)
def test_the_endpoint_answers_each_error_fault_with_the_tables_status_and_code(kind: FaultKind) -> None:
    answer = injected(Fault(kind.name), 3, ENDPOINT, REGION)

    assert isinstance(answer, ServiceError)
    assert (answer.status, answer.code) == (kind.status, kind.code)
    if kind.message:
        assert answer.members["Message"] == kind.message.format(endpoint=ENDPOINT)


@pytest.mark.parametrize("kind", [k for k in ENDPOINT_FAULTS.values() if k.behaviour == faults.GARBAGE], ids=NAME)
def test_the_endpoint_answers_each_garbage_fault_with_a_200_of_its_own(kind: FaultKind) -> None:
    answer = injected(Fault(kind.name), 3, ENDPOINT, REGION)

    assert isinstance(answer, ContainerResponse)
    assert answer.status == kind.status == 200
    assert answer.body != b"0.5,0.5,0.5"


@pytest.mark.parametrize("kind", [k for k in ENDPOINT_FAULTS.values() if k.behaviour != faults.ERROR], ids=NAME)
def test_the_other_endpoint_faults_are_not_answers_of_the_container(kind: FaultKind) -> None:
    answer = injected(Fault(kind.name), 3, ENDPOINT, REGION)
    assert (answer is None) is (kind.behaviour != faults.GARBAGE)


def test_every_s3_fault_is_a_behaviour_the_s3_server_implements() -> None:
    source = (PROJECT_ROOT / "local" / "churn_local" / "services" / "s3_server.py").read_text(encoding="utf-8")
    for behaviour in {kind.behaviour for kind in S3_FAULTS.values()} - {faults.ANSWER}:
        assert f"faults.{behaviour.upper()}" in source, behaviour


def test_only_refused_connections_are_chosen_at_start_only() -> None:
    assert {k.name for k in ENDPOINT_FAULTS.values() if k.behaviour == faults.REFUSE} == faults.START_ONLY == {"down"}


def test_a_fault_that_answers_must_name_its_status() -> None:
    with pytest.raises(ValueError, match="status"):
        FaultKind("broken", faults.ERROR, code="Oops")


@pytest.mark.parametrize(("flag", "table"), [("--endpoint-fault", ENDPOINT_FAULTS), ("--s3-fault", S3_FAULTS)])
def test_serve_help_describes_every_fault_of_the_table(
    flag: str, table: dict[str, FaultKind], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        serve.parse_args(["--help"])
    shown = " ".join(capsys.readouterr().out.split())

    assert flag in shown
    for name, kind in table.items():
        assert f"{name}: {' '.join(kind.summary().split())}" in shown


@pytest.mark.parametrize(("flag", "table"), [("--endpoint-fault", ENDPOINT_FAULTS), ("--s3-fault", S3_FAULTS)])
def test_the_documented_fault_tables_are_the_table(flag: str, table: dict[str, FaultKind]) -> None:
    rows = table_lines(section(read("docs/local.md"), "Fault injection"), f"| `{flag}` |")

    assert rows == faults.documented_rows(table)
