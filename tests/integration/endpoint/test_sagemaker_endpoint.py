"""The local SageMaker endpoint's runtime over real HTTP, driven by a real boto3 sagemaker-runtime client."""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError

from churn_api.budget import Deadline
from churn_api.endpoint import EndpointScorer
from churn_api.errors import ModelEndpointUnavailable, ModelError
from churn_api.models import Customer
from churn_api.preprocessing import Transformation
from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.services.sagemaker_endpoint import EndpointServer, make_server
from churn_local.training import dataset
from tests.integration.endpoint.conftest import (
    ACCOUNT,
    ENDPOINT,
    REGION,
    expected_scores,
    invoke,
    raw_post,
)


def test_one_customer_scores_what_xgboost_predicts_for_the_same_row(
    runtime: Any, booster: xgb.Booster, transformation: Transformation
) -> None:
    customer = Customer.model_validate(reference_payload())

    response, body = invoke(runtime, transformation.to_csv([customer]))

    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["ContentType"].startswith("text/csv")
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert float(body) == pytest.approx(float(expected_scores(booster, transformation, [customer])[0]), abs=1e-6)


def test_every_held_out_row_in_one_request_scores_in_order_on_one_comma_separated_line(
    runtime: Any, booster: xgb.Booster, transformation: Transformation, held_out: list[Customer]
) -> None:
    _, body = invoke(runtime, transformation.to_csv(held_out))

    assert "\n" not in body
    scores = np.array([float(s) for s in body.split(",")])
    np.testing.assert_allclose(scores, expected_scores(booster, transformation, held_out), rtol=0, atol=1e-6)


def test_every_row_of_the_data_set_scores_exactly_what_xgboost_predicts_from_a_dmatrix(
    server: EndpointServer, booster: xgb.Booster, transformation: Transformation, churn_frame: pd.DataFrame
) -> None:
    customers = [Customer.model_validate(dataset.as_payload(row)) for _, row in churn_frame.iterrows()]

    reply = server.container.invocations(transformation.to_csv(customers).encode(), "text/csv", "text/csv")

    scores = np.array([float(s) for s in reply.body.decode().split(",")], dtype=np.float32)
    assert len(scores) == len(churn_frame) == 5000
    np.testing.assert_array_equal(scores, expected_scores(booster, transformation, customers))


def test_json_accept_answers_a_predictions_list_of_scores(
    runtime: Any, booster: xgb.Booster, transformation: Transformation, held_out: list[Customer]
) -> None:
    customers = held_out[:5]

    response, body = invoke(runtime, transformation.to_csv(customers), Accept="application/json")

    assert response["ContentType"] == "application/json"
    scores = [p["score"] for p in json.loads(body)["predictions"]]
    np.testing.assert_allclose(scores, expected_scores(booster, transformation, customers), rtol=0, atol=1e-6)


def test_an_unknown_endpoint_name_is_a_validation_error_naming_endpoint_and_account(
    runtime: Any, transformation: Transformation, held_out: list[Customer]
) -> None:
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(
            EndpointName="no-such-endpoint", ContentType="text/csv", Body=transformation.to_csv(held_out[:1])
        )

    error = caught.value.response
    assert error["Error"]["Code"] == "ValidationError"
    assert error["Error"]["Message"] == f"Endpoint no-such-endpoint of account {ACCOUNT} not found."
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_wrong_feature_count_is_a_model_error_carrying_the_containers_400(
    runtime: Any, server: EndpointServer
) -> None:
    short_row = ",".join(["0.5"] * (server.container.n_features - 1))

    with pytest.raises(ClientError) as caught:
        invoke(runtime, short_row)

    error = caught.value.response
    n = server.container.n_features
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 400
    assert (
        f"Feature size of csv inference data {n - 1} is not consistent with feature size of trained model {n}"
        in (error["OriginalMessage"])
    )
    assert error["LogStreamArn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{ENDPOINT}"
    assert error["Error"]["Message"].startswith('Received client error (400) from primary with message "Unable to')
    assert error["Error"]["Message"].endswith(f"in account {ACCOUNT} for more information.")


def test_csv_that_does_not_parse_is_a_model_error_carrying_the_containers_415(
    runtime: Any, server: EndpointServer
) -> None:
    row = ",".join(["0.5"] * server.container.n_features)

    with pytest.raises(ClientError) as caught:
        invoke(runtime, row + "\n0.5,not-a-number")

    error = caught.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["OriginalStatusCode"] == 415
    assert error["OriginalMessage"].startswith("Loading csv data failed with Exception")


def test_an_accept_type_the_container_cannot_produce_is_a_model_error_carrying_406(
    runtime: Any, server: EndpointServer
) -> None:
    row = ",".join(["0.5"] * server.container.n_features)

    with pytest.raises(ClientError) as caught:
        invoke(runtime, row, Accept="image/png")

    assert caught.value.response["Error"]["Code"] == "ModelError"
    assert caught.value.response["OriginalStatusCode"] == 406


def test_ping_answers_200_once_the_model_is_loaded(server: EndpointServer) -> None:
    with urllib.request.urlopen(server.url + "/ping", timeout=10) as response:
        assert response.status == 200


def test_the_container_route_answers_scores_and_its_own_status_codes(
    server: EndpointServer, booster: xgb.Booster, transformation: Transformation, held_out: list[Customer]
) -> None:
    customers = held_out[:3]
    csv = transformation.to_csv(customers).encode()

    status, body = raw_post(server, "/invocations", csv, {"Content-Type": "text/csv"})
    short_status, short_body = raw_post(server, "/invocations", b"1,2,3", {"Content-Type": "text/csv"})
    empty_status, _ = raw_post(server, "/invocations", b"", {"Content-Type": "text/csv"})
    unsupported_status, _ = raw_post(server, "/invocations", b"1 0:1", {"Content-Type": "image/png"})

    assert status == 200
    scores = [float(s) for s in body.decode().split(",")]
    np.testing.assert_allclose(scores, expected_scores(booster, transformation, customers), rtol=0, atol=1e-6)
    assert short_status == 400 and short_body.startswith(b"Unable to evaluate payload provided")
    assert empty_status == 204
    assert unsupported_status == 415


def test_the_handlers_scorer_gets_the_models_scores(
    runtime: Any, booster: xgb.Booster, transformation: Transformation, held_out: list[Customer]
) -> None:
    customers = held_out[:40]

    csv = transformation.to_csv(customers)
    scores = EndpointScorer(runtime, ENDPOINT).score(csv, len(customers), Deadline.after(60))

    np.testing.assert_allclose(scores, expected_scores(booster, transformation, customers), rtol=0, atol=1e-6)


def test_the_handlers_scorer_reports_an_unknown_endpoint_as_unavailable(
    runtime: Any, transformation: Transformation, held_out: list[Customer]
) -> None:
    scorer = EndpointScorer(runtime, "churn-xgboost-old")

    with pytest.raises(ModelEndpointUnavailable) as caught:
        scorer.score(transformation.to_csv(held_out[:1]), 1, Deadline.after(60))

    assert caught.value.code == "MODEL_ENDPOINT_UNAVAILABLE"
    assert caught.value.status == 503


def test_the_handlers_scorer_reports_a_rejected_payload_as_a_model_error(runtime: Any) -> None:
    with pytest.raises(ModelError) as caught:
        EndpointScorer(runtime, ENDPOINT).score("0.1,0.2,0.3", 1, Deadline.after(60))

    assert caught.value.code == "MODEL_ERROR"
    assert caught.value.status == 502


def test_concurrent_invocations_each_get_their_own_rows_scores(
    runtime: Any, booster: xgb.Booster, transformation: Transformation, held_out: list[Customer]
) -> None:
    batches = [held_out[i : i + 7] for i in range(0, 7 * 24, 7)]

    def score(batch: list[Customer]) -> list[float]:
        _, body = invoke(runtime, transformation.to_csv(batch))
        return [float(s) for s in body.split(",")]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(score, batches))

    for batch, scores in zip(batches, results, strict=True):
        np.testing.assert_allclose(scores, expected_scores(booster, transformation, batch), rtol=0, atol=1e-6)


def test_request_bodies_never_reach_the_log(
    runtime: Any, server: EndpointServer, caplog: pytest.LogCaptureFixture
) -> None:
    marker = "0.918273645546372"
    good = ",".join([marker] * server.container.n_features)

    with caplog.at_level(logging.DEBUG, logger="churn_local.services.sagemaker_endpoint"):
        invoke(runtime, good)
        with pytest.raises(ClientError):
            invoke(runtime, f"{marker},{marker}")

    assert f"/endpoints/{ENDPOINT}/invocations" in caplog.text
    assert marker not in caplog.text


def test_an_archive_with_more_than_the_model_is_refused(trained_artifacts: Path, tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(trained_artifacts / "model.tar.gz", mode="r:gz") as source, tarfile.open(archive, "w:gz") as out:
        member = source.getmember("xgboost-model")
        extracted = source.extractfile(member)
        assert extracted is not None
        with extracted:
            data = extracted.read()
        for name in ("xgboost-model", "xgboost-model-copy"):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, fileobj=io.BytesIO(data))

    with pytest.raises(ValueError, match="exactly one file"):
        make_server(archive, ENDPOINT, "127.0.0.1", 0)


def test_a_body_over_the_6_mib_limit_is_a_validation_error(runtime: Any) -> None:
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Body=b"0" * (6 * 1024 * 1024 + 1))

    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "6291456" in caught.value.response["Error"]["Message"]


def test_the_command_line_serves_until_sigterm_and_exits_cleanly(trained_artifacts: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "churn_local.services.sagemaker_endpoint",
            "--model",
            str(trained_artifacts / "model.tar.gz"),
        ]
        + ["--endpoint-name", ENDPOINT, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        url = banner.rsplit(" at ", 1)[1].strip()
        with urllib.request.urlopen(url + "/ping", timeout=10) as response:
            assert response.status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    assert banner.startswith(f"SageMaker endpoint {ENDPOINT} (")
