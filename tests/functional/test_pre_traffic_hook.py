"""The pre-traffic hook's verdicts: every case matches -> Succeeded; a wrong score, a 5xx or a timeout -> Failed.

CodeDeploy, Lambda and S3 are real boto3 clients under botocore's Stubber (each call and its parameters checked),
except the read timeout, which a loopback server that never answers produces for real. The cases are the ones
`make publish` writes for the session's trained model.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pre_traffic
import pytest
from botocore.config import Config
from botocore.response import StreamingBody
from botocore.stub import Stubber

from churn_local.release import reference_cases

FUNCTION = "churn-api-ChurnFunction-abc"
DEPLOYMENT = {"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "hook-execution-1"}
THRESHOLD = 0.39
ACCOUNT = "123456789012"
APPLICATION = "churn-api-ServerlessDeploymentApplication-abc"
ENOUGH_TIME = lambda: 300_000  # noqa: E731 - a Lambda context's remaining time, in ms


@pytest.fixture(scope="module")
def reference(trained_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """reference.json as `make publish` writes it for the session's model (in a copy: publish writes beside it)."""
    folder = tmp_path_factory.mktemp("reference")
    for name in ("transformation.sav", "model.tar.gz"):
        (folder / name).write_bytes((trained_artifacts / name).read_bytes())
    return reference_cases.write(folder)


def settings_for(reference: bytes, **changes: Any) -> pre_traffic.Settings:
    values = {
        "function_name": FUNCTION,
        "alias": "live",
        "bucket": "churn-artifacts",
        "key": "churn-api/abc/reference-1.json",
        "sha256": hashlib.sha256(reference).hexdigest(),
        "bucket_owner": ACCOUNT,
        "threshold": THRESHOLD,
        **changes,
    }
    return pre_traffic.Settings(**values)


def client(service: str, **config: Any) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(**config),
    )


def appspec(version: str, name: str = FUNCTION) -> str:
    """The AppSpec CloudFormation gives CodeDeploy for an alias update."""
    properties = {"Name": name, "Alias": "live", "CurrentVersion": "3", "TargetVersion": version}
    resource = {"ChurnFunction": {"Type": "AWS::Lambda::Function", "Properties": properties}}
    return json.dumps({"version": 0.0, "Resources": [resource]})


def answer(case: dict[str, Any], mutate: Any = None) -> dict[str, Any]:
    """Render the answer the churn function gives a case when it is right (optionally altered)."""
    expect = case["expect"]
    model = {"version": case["version"], "threshold": THRESHOLD}
    if expect["status"] != 200:
        body: dict[str, Any] = {"error": {"code": expect["code"], "message": "...", "requestId": "r"}}
    else:
        predictions = [{"churn": s > THRESHOLD, "label": str(s > THRESHOLD), "score": s} for s in expect["scores"]]
        if "body" in case["event"] and json.loads(case["event"]["body"]).get("customers"):
            body = {"results": [{"index": i, **p} for i, p in enumerate(predictions)], "scored": len(predictions)}
            body |= {"failed": 0, "threshold": THRESHOLD, "model": model}
        else:
            body = {**predictions[0], "threshold": THRESHOLD, "model": model}
    status = expect["status"]
    if mutate:
        status, body = mutate(status, body)
    if "httpMethod" not in case["event"]:  # a direct invocation
        return body if status == 200 else {"statusCode": status, **body}
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def payload(document: dict[str, Any]) -> StreamingBody:
    raw = json.dumps(document).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


class Clients:
    """CodeDeploy, Lambda and S3 under Stubbers, expecting the calls of one check."""

    def __init__(self, reference: bytes, version: str = "4") -> None:
        self.reference = reference
        self.version = version
        self.clients = {name: client(name) for name in ("codedeploy", "lambda", "s3")}
        self.stubs = {name: Stubber(c) for name, c in self.clients.items()}
        self.deployment(appspec(version))
        self.stubs["s3"].add_response(
            "get_object",
            {"Body": StreamingBody(io.BytesIO(reference), len(reference))},
            {
                "Bucket": "churn-artifacts",
                "Key": "churn-api/abc/reference-1.json",
                "ExpectedBucketOwner": ACCOUNT,
            },
        )

    def deployment(self, content: str) -> None:
        """Expect the deployment's lookup: its revision, then that revision's AppSpec (a "String" revision)."""
        revision = {"revisionType": "String", "string": {"sha256": "5e" * 32}}
        self.stubs["codedeploy"].add_response(
            "get_deployment",
            {"deploymentInfo": {"applicationName": APPLICATION, "revision": revision}},
            {"deploymentId": DEPLOYMENT["DeploymentId"]},
        )
        self.stubs["codedeploy"].add_response(
            "get_application_revision",
            {"revision": {"revisionType": "String", "string": {"content": content, "sha256": "5e" * 32}}},
            {"applicationName": APPLICATION, "revision": revision},
        )

    @property
    def cases(self) -> list[dict[str, Any]]:
        document = json.loads(self.reference)
        # Each case carries the version the right deployment names, for answer() to name it.
        cases: list[dict[str, Any]] = [{**case, "version": document["model_version"]} for case in document["cases"]]
        return cases

    def invoked(self, case: dict[str, Any], answered: dict[str, Any], function_error: str | None = None) -> None:
        """Expect one invocation of the target version with the case's event."""
        response: dict[str, Any] = {"StatusCode": 200, "Payload": payload(answered), "ExecutedVersion": self.version}
        if function_error:
            response["FunctionError"] = function_error
        expected = {
            "FunctionName": f"{FUNCTION}:{self.version}",
            "InvocationType": "RequestResponse",
            "Payload": json.dumps(case["event"]).encode(),
        }
        self.stubs["lambda"].add_response("invoke", response, expected)

    def reported(self, status: str) -> None:
        self.stubs["codedeploy"].add_response(
            "put_lifecycle_event_hook_execution_status",
            {"lifecycleEventHookExecutionId": DEPLOYMENT["LifecycleEventHookExecutionId"]},
            {
                "deploymentId": DEPLOYMENT["DeploymentId"],
                "lifecycleEventHookExecutionId": DEPLOYMENT["LifecycleEventHookExecutionId"],
                "status": status,
            },
        )

    def run(self, settings: pre_traffic.Settings) -> dict[str, Any]:
        for stub in self.stubs.values():
            stub.activate()
        verdict = pre_traffic.run(DEPLOYMENT, self.clients, settings, ENOUGH_TIME)
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()
        return verdict


def test_every_case_answered_as_published_lets_the_shift_begin(reference: bytes) -> None:
    clients = Clients(reference)
    assert len(clients.cases) >= 8 and len(clients.cases[-1]["expect"]["scores"]) == 300
    for case in clients.cases:
        clients.invoked(case, answer(case))
    clients.reported("Succeeded")
    assert clients.run(settings_for(reference)) == {"status": "Succeeded", "problems": []}


def test_one_score_off_by_more_than_1e_9_fails_the_deployment(reference: bytes) -> None:
    clients = Clients(reference)
    *cases, batch = clients.cases
    for case in cases:
        clients.invoked(case, answer(case))

    def nudge(status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        body["results"][17]["score"] += 2e-9
        return status, body

    clients.invoked(batch, answer(batch, nudge))
    clients.reported("Failed")
    verdict = clients.run(settings_for(reference))
    assert verdict["status"] == "Failed"
    assert verdict["problems"] == ["data/churn.txt, 300 rows: customer 17: score off by more than 1e-09"]


def test_a_wrong_label_fails_even_with_the_right_score(reference: bytes) -> None:
    clients = Clients(reference)
    for case in clients.cases:
        clients.invoked(case, answer(case))
    clients.reported("Failed")
    # The same answers judged against another threshold: the labels no longer follow from the scores.
    verdict = clients.run(settings_for(reference, threshold=0.5))
    assert verdict["status"] == "Failed"
    assert any("label" in p for p in verdict["problems"]) and any("threshold" in p for p in verdict["problems"])


def test_answers_naming_another_model_fail_even_with_the_right_scores(reference: bytes) -> None:
    clients = Clients(reference)
    for case in clients.cases:
        clients.invoked(case, answer(case))
    clients.reported("Failed")
    # The right answers, from a version that was told it serves another model (a stale ModelVersion pin)
    verdict = clients.run(settings_for(reference, model_version="0000000000000000"))
    assert verdict["status"] == "Failed"
    scored = [case["name"] for case in clients.cases if case["expect"]["status"] == 200]
    assert verdict["problems"] == [
        f"{name}: model version {clients.cases[0]['version']}, expected {'0' * 16}" for name in scored
    ]


def test_a_5xx_from_the_new_version_fails_the_deployment(reference: bytes) -> None:
    clients = Clients(reference)
    first, *others = clients.cases
    assert first["expect"]["status"] == 400  # events/ sorted: the refused events come first

    def model_error(status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 502, {"error": {"code": "MODEL_ERROR", "message": "the model refused the request"}}

    clients.invoked(first, answer(first, model_error))
    for case in others:
        clients.invoked(case, answer(case))
    clients.reported("Failed")
    verdict = clients.run(settings_for(reference))
    assert verdict["problems"] == [f"{first['name']}: status 502 (MODEL_ERROR), expected 400"]


def test_a_lambda_service_error_fails_the_deployment(reference: bytes) -> None:
    clients = Clients(reference)
    first, *others = clients.cases
    clients.invoked(first, answer(first))
    clients.stubs["lambda"].add_client_error("invoke", "ServiceException", "Lambda is unavailable", 500)
    clients.reported("Failed")
    verdict = clients.run(settings_for(reference))
    assert verdict["problems"] == [f"{others[0]['name']}: the invocation failed (ServiceException)"]


def test_a_new_version_that_times_out_fails_the_deployment(reference: bytes) -> None:
    clients = Clients(reference)
    *cases, batch = clients.cases
    for case in cases:
        clients.invoked(case, answer(case))
    # What Lambda answers when the function runs past its timeout: 200 with FunctionError "Unhandled".
    timed_out = {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 25.00 seconds"}
    clients.invoked(batch, timed_out, function_error="Unhandled")
    clients.reported("Failed")
    verdict = clients.run(settings_for(reference))
    assert verdict["problems"] == [f"{batch['name']}: the function failed (Unhandled, Sandbox.Timedout)"]


@pytest.fixture
def silent_lambda() -> Iterator[str]:
    """A loopback server that accepts connections and never answers; yield its URL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def test_an_invocation_that_never_answers_fails_within_the_read_timeout(
    reference: bytes, silent_lambda: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clients = Clients(reference)
    settings = settings_for(reference, invoke_read_timeout_s=0.3)
    # The real client the hook makes, pointed at the silent server: botocore's own read timeout, twice.
    clients.clients["lambda"] = boto3.client(
        "lambda",
        endpoint_url=silent_lambda,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=pre_traffic.clients_for(settings)["lambda"].meta.config,
    )
    del clients.stubs["lambda"]
    clients.reported("Failed")
    verdict = clients.run(settings)
    # The first case that gets no answer ends the check: the others would wait as long.
    assert verdict["problems"] == [f"{clients.cases[0]['name']}: the invocation failed (ReadTimeoutError)"]


def test_reference_cases_that_are_not_the_published_bytes_fail_before_any_invocation(reference: bytes) -> None:
    clients = Clients(reference)
    clients.reported("Failed")
    verdict = clients.run(settings_for(reference, sha256="0" * 64))
    assert verdict["problems"] == [
        "the check could not run: CheckFailed: reference.json is not the published one (sha256 differs)"
    ]


def test_the_target_version_comes_from_the_deployment_and_must_be_this_functions_alias(reference: bytes) -> None:
    clients = Clients(reference)
    clients.stubs["codedeploy"] = Stubber(clients.clients["codedeploy"])
    clients.deployment(appspec("9", name="another-function"))
    clients.stubs["s3"] = Stubber(clients.clients["s3"])
    clients.reported("Failed")
    verdict = clients.run(settings_for(reference))
    assert verdict["status"] == "Failed" and "another-function:live" in verdict["problems"][0]
    yaml_appspec = "version: 0.0\nResources:\n  - ChurnFunction:\n      Properties:\n        TargetVersion: 12\n"
    assert pre_traffic.TARGET_VERSION.search(yaml_appspec)[1] == "12"  # type: ignore[index]


def test_without_time_for_another_case_the_check_reports_failed_before_its_own_timeout(reference: bytes) -> None:
    clients = Clients(reference)
    for stub in clients.stubs.values():
        stub.activate()
    clients.reported("Failed")
    verdict = pre_traffic.run(DEPLOYMENT, clients.clients, settings_for(reference), lambda: 20_000)
    assert verdict["problems"][0].startswith("the check could not run: CheckFailed: out of time before")
    clients.stubs["codedeploy"].assert_no_pending_responses()
