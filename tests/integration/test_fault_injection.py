"""The local services' fault injection, seen by real boto3 clients: SageMaker Runtime's and S3's own answers."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError
from moto.server import ThreadedMotoServer

from churn_local.constants import LOCAL_ACCOUNT_ID, LOCAL_REGION, MODEL_ARCHIVE
from churn_local.services import faults
from churn_local.services.http_server import free_port
from churn_local.services.s3_server import S3Server
from churn_local.services.sagemaker_endpoint import EndpointServer, make_server
from tests.integration.fault_answers import calls, switch

ENDPOINT = "churn-xgboost"
BUCKET = "churn-api-local"
KEY = "transformation.sav"
OBJECT = b"the transformation's bytes"
# One attempt and a short read timeout: each call below is exactly one request, and a hang shows in a second.
ONE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=1, connect_timeout=1)
CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local", "region_name": LOCAL_REGION}


def serve(server: Any) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    return thread


def stop(server: Any, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def endpoint(trained_artifacts: Path) -> Iterator[EndpointServer]:
    """Serve the session's model with fault injection on a free port."""
    server = make_server(trained_artifacts / MODEL_ARCHIVE, ENDPOINT, "127.0.0.1", 0)
    thread = serve(server)
    yield server
    stop(server, thread)


@pytest.fixture
def runtime(endpoint: EndpointServer) -> Iterator[Any]:
    """Return a real sagemaker-runtime client for the endpoint; switch the fault back off afterwards."""
    client = boto3.client("sagemaker-runtime", endpoint_url=endpoint.url, config=ONE_ATTEMPT, **CREDENTIALS)
    yield client
    client.close()
    switch(endpoint.url, faults.NONE)


def invoke(runtime: Any, endpoint: EndpointServer, rows: int = 2) -> bytes:
    row = ",".join(["0.5"] * endpoint.container.n_features)
    response = runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Body="\n".join([row] * rows))
    body: bytes = response["Body"].read()
    return body


# What real SageMaker Runtime answers for each fault: the error code botocore reports and the HTTP status.
ENDPOINT_ERRORS = {
    "throttle": ("ThrottlingException", 400),
    "not-ready": ("ModelNotReadyException", 429),
    "model-error": ("ModelError", 424),
    "unavailable": ("ServiceUnavailable", 503),
    "internal": ("InternalFailure", 500),
}


@pytest.mark.parametrize("fault", list(ENDPOINT_ERRORS))
def test_each_endpoint_error_reaches_boto3_with_sagemakers_code_and_status_and_is_counted(
    fault: str, runtime: Any, endpoint: EndpointServer
) -> None:
    switch(endpoint.url, fault)

    with pytest.raises(ClientError) as caught:
        invoke(runtime, endpoint)

    code, status = ENDPOINT_ERRORS[fault]
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert calls(endpoint.url) == 1


def test_a_model_error_carries_the_containers_status_like_sagemaker(runtime: Any, endpoint: EndpointServer) -> None:
    switch(endpoint.url, "model-error")

    with pytest.raises(ClientError) as caught:
        invoke(runtime, endpoint)

    assert caught.value.response["OriginalStatusCode"] == 500
    assert "from primary with message" in caught.value.response["Error"]["Message"]


def test_garbage_answers_are_200s_the_caller_must_refuse(runtime: Any, endpoint: EndpointServer) -> None:
    answers = {}
    for fault in ("garbage-bytes", "garbage-booleans", "garbage-count"):
        switch(endpoint.url, fault)
        answers[fault] = invoke(runtime, endpoint, rows=3)

    with pytest.raises(UnicodeDecodeError):
        answers["garbage-bytes"].decode("utf-8")
    assert json.loads(answers["garbage-booleans"]) == [True, True, True]
    assert len(answers["garbage-count"].split(b",")) == 2


def test_a_slow_endpoint_answers_correctly_after_the_delay(runtime: Any, endpoint: EndpointServer) -> None:
    healthy = invoke(runtime, endpoint)
    switch(endpoint.url, "slow", delay_s=0.4)

    started = time.monotonic()
    slow = invoke(runtime, endpoint)

    assert time.monotonic() - started >= 0.4
    assert slow == healthy


def test_a_hung_endpoint_is_a_read_timeout_and_does_not_stop_the_next_call(
    runtime: Any, endpoint: EndpointServer
) -> None:
    switch(endpoint.url, "hang")

    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        invoke(runtime, endpoint)
    elapsed = time.monotonic() - started
    assert calls(endpoint.url) == 1
    switch(endpoint.url, faults.NONE)

    assert 1 <= elapsed < 5
    assert len(invoke(runtime, endpoint).split(b",")) == 2


@pytest.mark.parametrize(("body", "message"), [({"fault": "melt"}, "unknown fault"), ({"fault": "down"}, "at start")])
def test_the_control_route_refuses_unknown_faults_and_those_only_a_restart_can_switch(
    endpoint: EndpointServer, body: dict[str, str], message: str
) -> None:
    request = urllib.request.Request(endpoint.url + faults.CONTROL_PATH, data=json.dumps(body).encode(), method="PUT")

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)

    assert caught.value.code == 400
    assert message in json.loads(caught.value.read())["message"]


# -- S3 --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_front() -> Iterator[S3Server]:
    """Run moto's S3 behind the fault-injecting front, with the object in place."""
    moto_port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    front = S3Server(("127.0.0.1", 0), ("127.0.0.1", moto_port))
    thread = serve(front)
    setup = boto3.client("s3", endpoint_url=front.url, **CREDENTIALS)
    setup.create_bucket(Bucket=BUCKET)
    setup.put_object(Bucket=BUCKET, Key=KEY, Body=OBJECT)
    yield front
    stop(front, thread)
    moto.stop()


@pytest.fixture
def s3(s3_front: S3Server) -> Iterator[Any]:
    """Return a real s3 client for the front; switch the fault back off afterwards."""
    client = boto3.client("s3", endpoint_url=s3_front.url, config=ONE_ATTEMPT, **CREDENTIALS)
    yield client
    client.close()
    switch(s3_front.url, faults.NONE)


def test_without_a_fault_s3_calls_pass_through_to_moto(s3: Any, s3_front: S3Server) -> None:
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == OBJECT
    assert calls(s3_front.url) == 1


@pytest.mark.parametrize(("fault", "code", "status"), [("deny", "AccessDenied", 403), ("missing", "NoSuchKey", 404)])
def test_s3_errors_reach_boto3_with_s3s_code_and_status(
    s3: Any, s3_front: S3Server, fault: str, code: str, status: int
) -> None:
    switch(s3_front.url, fault)

    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=BUCKET, Key=KEY)

    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert calls(s3_front.url) == 1


def test_a_corrupt_object_arrives_as_other_bytes(s3: Any, s3_front: S3Server) -> None:
    switch(s3_front.url, "corrupt")

    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() != OBJECT


def test_a_hung_s3_is_a_read_timeout(s3: Any, s3_front: S3Server) -> None:
    switch(s3_front.url, "hang")

    with pytest.raises(ReadTimeoutError):
        s3.get_object(Bucket=BUCKET, Key=KEY)
    assert calls(s3_front.url) == 1


def test_s3_refuses_a_request_that_expects_another_bucket_owner_like_s3(s3: Any, s3_front: S3Server) -> None:
    owned = s3.get_object(Bucket=BUCKET, Key=KEY, ExpectedBucketOwner=LOCAL_ACCOUNT_ID)["Body"].read()

    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=BUCKET, Key=KEY, ExpectedBucketOwner="210987654321")

    assert owned == OBJECT
    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
