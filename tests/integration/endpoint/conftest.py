"""The local SageMaker endpoint served per test module, and real boto3 clients that find it by the standard variable."""

from __future__ import annotations

import pickle
import tarfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from botocore.config import Config

from churn_api.models import Customer
from churn_api.preprocessing import Transformation
from churn_local.services.sagemaker_endpoint import EndpointServer, make_server
from churn_local.training import dataset

ENDPOINT = "churn-xgboost"
ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def server(trained_artifacts: Path) -> Iterator[EndpointServer]:
    """Serve the session's model on a free loopback port for this module."""
    endpoint = make_server(trained_artifacts / "model.tar.gz", ENDPOINT, "127.0.0.1", 0)
    thread = threading.Thread(target=endpoint.serve_forever, daemon=True)
    thread.start()
    yield endpoint
    endpoint.shutdown()
    endpoint.server_close()
    thread.join(timeout=10)


def local_client(
    service: str, variable: str, server: EndpointServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Any:
    """Return a real boto3 client that finds the server through the standard AWS_ENDPOINT_URL_* variable only."""
    monkeypatch.setenv(variable, server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    client = boto3.session.Session().client(
        service, region_name=REGION, config=Config(retries={"mode": "standard", "max_attempts": 1})
    )
    assert client.meta.endpoint_url == server.url
    return client


@pytest.fixture
def runtime(server: EndpointServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """Return a real sagemaker-runtime client that finds the server through AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME."""
    client = local_client("sagemaker-runtime", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server, monkeypatch, tmp_path)
    yield client
    client.close()


@pytest.fixture
def control(server: EndpointServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """Return a real sagemaker (control plane) client that finds the server through AWS_ENDPOINT_URL_SAGEMAKER."""
    client = local_client("sagemaker", "AWS_ENDPOINT_URL_SAGEMAKER", server, monkeypatch, tmp_path)
    yield client
    client.close()


@pytest.fixture(scope="module")
def booster(trained_artifacts: Path) -> xgb.Booster:
    """Load the archived model with xgboost itself, independently of the server."""
    with tarfile.open(trained_artifacts / "model.tar.gz", mode="r:gz") as tar:
        extracted = tar.extractfile("xgboost-model")
        assert extracted is not None
        with extracted:
            raw = extracted.read()
    loaded = xgb.Booster()
    loaded.load_model(bytearray(raw))
    return loaded


@pytest.fixture(scope="module")
def transformation(trained_artifacts: Path) -> Transformation:
    """Return the Lambda's preprocessing built from the session's transformation.sav."""
    saved = pickle.loads((trained_artifacts / "transformation.sav").read_bytes())  # noqa: S301 (our artifact)
    return Transformation.from_mapping(saved)


@pytest.fixture(scope="module")
def held_out(trained_metadata: dict[str, Any], churn_frame: pd.DataFrame) -> list[Customer]:
    """Return the held-out customers as the API receives them."""
    rows = churn_frame.iloc[trained_metadata["test_rows"]]
    return [Customer.model_validate(dataset.as_payload(row)) for _, row in rows.iterrows()]


def expected_scores(booster: xgb.Booster, transformation: Transformation, customers: list[Customer]) -> np.ndarray:
    """Return what xgboost itself predicts for the customers, transformed as the function transforms them."""
    return np.asarray(booster.predict(xgb.DMatrix(transformation.transform(customers))))


def invoke(runtime: Any, body: str, **extra: str) -> tuple[dict[str, Any], str]:
    """Invoke the endpoint with a CSV body; return the response and its decoded body."""
    response = runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Body=body.encode(), **extra)
    return response, response["Body"].read().decode("utf-8")


def raw_post(server: EndpointServer, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST raw bytes to the server; return the status and body, errors included."""
    request = urllib.request.Request(server.url + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()
