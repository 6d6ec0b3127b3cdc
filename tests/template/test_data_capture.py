"""Model endpoint data capture: off unless asked for, only where SageMaker can capture, into the artifacts bucket."""

from __future__ import annotations

import pytest

from tests.template.conftest import PARAMETERS, load_template
from tests.template.deployed import CAPTURE_OBJECTS, created, properties, rule_holds
from tests.template.options import OPTIONS


def test_the_hosted_real_time_endpoint_captures_the_sample_asked_for_into_the_artifacts_bucket() -> None:
    capture = properties("capture", "ChurnEndpointConfig")["DataCaptureConfig"]
    assert capture == {
        "EnableCapture": True,
        "InitialSamplingPercentage": "25",
        "DestinationS3Uri": f"s3://{PARAMETERS['TransformBucket']}/captured/churn",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
    }
    statements = properties("capture", "ChurnModelRole")["Policies"][0]["PolicyDocument"]["Statement"]
    (written,) = [s for s in statements if s["Action"] == "s3:PutObject"]
    assert written == {
        "Sid": "WriteCapturedData",
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": CAPTURE_OBJECTS,
    }


@pytest.mark.parametrize("option", [o for o in OPTIONS if o != "capture"])
def test_no_other_option_captures_or_may_write_to_the_bucket(option: str) -> None:
    if "ChurnEndpointConfig" in created(option):
        assert "DataCaptureConfig" not in properties(option, "ChurnEndpointConfig")
        statements = properties(option, "ChurnModelRole")["Policies"][0]["PolicyDocument"]["Statement"]
        assert not [s for s in statements if s["Action"] == "s3:PutObject"]
    assert load_template()["Parameters"]["EnableDataCapture"]["Default"] == "false"


@pytest.mark.parametrize(
    ("values", "accepted"),
    [
        ({"EnableDataCapture": "false"}, True),
        ({"EnableDataCapture": "true", "ModelDataUrl": "s3://b/k", "EndpointInstanceType": "ml.m5.large"}, True),
        ({"EnableDataCapture": "true", "ModelDataUrl": "s3://b/k"}, False),  # serverless cannot capture
        ({"EnableDataCapture": "true", "EndpointInstanceType": "ml.m5.large"}, False),  # an endpoint not ours
    ],
)
def test_a_rule_refuses_a_capture_that_sagemaker_could_not_make(values: dict[str, str], accepted: bool) -> None:
    rule = load_template()["Rules"]["DataCaptureNeedsAHostedRealTimeEndpoint"]
    assert rule_holds(rule, values) is accepted
