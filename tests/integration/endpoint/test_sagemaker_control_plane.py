"""The local SageMaker endpoint's control plane (DescribeEndpoint, JSON 1.1) through a real boto3 sagemaker client."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from churn_api.budget import Deadline
from churn_api.health import ReadinessCheck
from churn_api.preprocessing import Transformation
from tests.integration.endpoint.conftest import (
    ACCOUNT,
    ENDPOINT,
    REGION,
)

# -- DescribeEndpoint (control plane, JSON 1.1) ----------------------------------------------------------------------


def test_describe_endpoint_says_the_served_endpoint_is_in_service(control: Any) -> None:
    described = control.describe_endpoint(EndpointName=ENDPOINT)

    assert described["EndpointStatus"] == "InService"
    assert described["EndpointName"] == ENDPOINT
    assert described["EndpointArn"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}"
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["AllTraffic"]
    # botocore parsed the JSON 1.1 epoch seconds into datetimes.
    assert described["CreationTime"] <= described["LastModifiedTime"]
    assert described["CreationTime"].tzinfo is not None


@pytest.mark.parametrize("name", ["churn-xgboost-old", "Churn-XGBoost", "x"])
def test_describe_endpoint_of_a_name_not_served_is_the_validation_exception_naming_its_arn(
    control: Any, name: str
) -> None:
    with pytest.raises(ClientError) as caught:
        control.describe_endpoint(EndpointName=name)

    error = caught.value.response
    assert error["Error"]["Code"] == "ValidationException"
    assert error["Error"]["Message"] == (
        f'Could not find endpoint "arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name.lower()}".'
    )
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_an_operation_the_local_endpoint_does_not_serve_is_refused_by_name(control: Any) -> None:
    with pytest.raises(ClientError) as caught:
        control.list_endpoints()

    assert caught.value.response["Error"]["Code"] == "UnknownOperationException"


class LoadedTransformations:
    """Stand in for the handler's S3-backed TransformationStore once it has loaded."""

    def __init__(self, transformation: Transformation) -> None:
        self.transformation = transformation

    def get(self, deadline: Deadline) -> Transformation:
        return self.transformation


def test_the_handlers_readiness_check_finds_the_served_endpoint_in_service_and_others_unavailable(
    control: Any, transformation: Transformation
) -> None:
    store: Any = LoadedTransformations(transformation)

    ready = ReadinessCheck(store, lambda: control, ENDPOINT).check(Deadline.after(60)).model_dump()
    unknown = ReadinessCheck(store, lambda: control, "churn-xgboost-old").check(Deadline.after(60)).model_dump()

    assert ready == {
        "status": "ready",
        "transformation": {"loaded": True},
        "endpoint": {"status": "InService"},
    }
    assert unknown["status"] == "not ready"
    assert unknown["endpoint"] == {"status": "Unavailable"}
