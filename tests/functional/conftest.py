"""Functional fixtures: the real handler module with S3 faked by moto and SageMaker by a Stubber."""

from __future__ import annotations

import importlib
import io
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from moto import mock_aws
from moto.server import ThreadedMotoServer

from churn_local.lambda_runtime.context import LambdaContext
from churn_local.lambda_runtime.event_files import api_event
from churn_local.template.expansion import default_threshold
from churn_local.training.transformation import dumps

BUCKET = "churn-api-test-artifacts"
KEY = "models/transformation.sav"
ENDPOINT = "churn-xgboost-test"
THRESHOLD = float(str(default_threshold()))  # the function is deployed with the template's default
MODEL_VERSION = "3f2a9c1e5b7d4a60"  # what make publish pins (ModelVersion): every answer names it
MODEL = {"version": MODEL_VERSION, "threshold": THRESHOLD}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point boto3 at nothing real: fake credentials, one region, the function's variables."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("TRANSFORM_BUCKET", BUCKET)
    monkeypatch.setenv("TRANSFORM_KEY", KEY)
    monkeypatch.setenv("THRESHOLD", str(default_threshold()))
    monkeypatch.setenv("MODEL_VERSION", MODEL_VERSION)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "churn-api")


@pytest.fixture
def s3_bucket(aws_env: None) -> Iterator[Any]:
    """Start moto and create the artifacts bucket, empty."""
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


@pytest.fixture
def uploaded(s3_bucket: Any, fitted_transformation: dict[str, Any]) -> Any:
    """Put the real pickled transformation where the function looks for it."""
    s3_bucket.put_object(Bucket=BUCKET, Key=KEY, Body=dumps(fitted_transformation))
    return s3_bucket


def fresh_app() -> ModuleType:
    """Import churn_api.app as a new Lambda container would: settings and clients made at import."""
    sys.modules.pop("churn_api.app", None)
    return importlib.import_module("churn_api.app")


@pytest.fixture
def app_module(uploaded: Any) -> ModuleType:
    """A cold container of the function, with the transformation in moto's S3."""
    return fresh_app()


class S3Reads:
    """Count GetObject calls made by one boto3 client."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        client.meta.events.register("after-call.s3.GetObject", self._seen)

    def _seen(self, **_: Any) -> None:
        self.count += 1


@pytest.fixture
def s3_reads(app_module: ModuleType) -> S3Reads:
    """Count the function's own S3 reads."""
    return S3Reads(app_module.predictor.transformations.s3)


@pytest.fixture
def sagemaker(app_module: ModuleType) -> Iterator[Stubber]:
    """Stub the function's own sagemaker-runtime client; every call must be expected."""
    with Stubber(app_module.predictor.scorer.client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def answer(stubber: Stubber, body: str, expected_body: Any = ANY) -> None:
    """Queue one InvokeEndpoint answer, checking what the function sends."""
    raw = body.encode()
    stubber.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(raw), len(raw)), "ContentType": "text/csv"},
        {"EndpointName": ENDPOINT, "ContentType": "text/csv", "Body": expected_body},
    )


def request(app: ModuleType, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    """Send the handler the API Gateway event of one request; return its proxy response."""
    return app.lambda_handler(api_event(body, headers=headers, method=method, path=path), LambdaContext())


def json_body(response: dict[str, Any]) -> Any:
    """Return the proxy response's body, parsed."""
    return json.loads(response["body"])


def header(response: dict[str, Any], name: str) -> str | None:
    """Return a response header by name, in any case, its values joined as a client sees them."""
    values = {k.lower(): v for k, v in response.get("multiValueHeaders", {}).items()}
    single = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    if name.lower() in values:
        return ",".join(values[name.lower()])
    return single.get(name.lower())


# The bucket `make publish` uploads to in the tests that run moto's S3 server.
PUBLISH_BUCKET = "churn-api-publish-test"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """Run moto's S3 server on a free port of 127.0.0.1; return its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point boto3 at the server the standard way (AWS_ENDPOINT_URL_S3) with fake credentials; make the bucket."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3 = boto3.client("s3")
    if PUBLISH_BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=PUBLISH_BUCKET)
    return s3


@pytest.fixture
def artifacts(trained_artifacts: Path, tmp_path: Path) -> Path:
    """A private copy of the session's trained artifacts (tests may tamper with it)."""
    folder = tmp_path / "artifacts"
    shutil.copytree(trained_artifacts, folder)
    return folder


def swagger_document(app: ModuleType) -> Any:
    """Return the OpenAPI document the function serves at GET /swagger?format=json."""
    event = api_event(None)
    event.update(
        httpMethod="GET",
        path="/swagger",
        resource="/swagger",
        queryStringParameters={"format": "json"},
        multiValueQueryStringParameters={"format": ["json"]},
    )
    return json.loads(app.lambda_handler(event, LambdaContext())["body"])
