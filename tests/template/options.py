"""The deployment options every template test expands: where the model runs, cold-start settings, authorizer."""

from __future__ import annotations

from functools import cache
from typing import Any

from churn_local.template.samcli import IntrinsicResolver
from tests.template.conftest import FUNCTION_ARN, PARAMETERS_WITHOUT_KEYS, expand, resolver_for

MODEL_BUCKET = "churn-api-models-test"
MODEL_KEY = "churn-api/4f1c2b9e7d3a/model.tar.gz"
MODEL_DATA_URL = f"s3://{MODEL_BUCKET}/{MODEL_KEY}"
USER_POOL_ARN = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf123"
REFERENCE_KEY = "churn-api/4f1c2b9e7d3a/reference.json"
REFERENCE_SHA256 = "5e" * 32
ROLLOUT = {"ReferenceKey": REFERENCE_KEY, "ReferenceSha256": REFERENCE_SHA256, "AlarmEmail": "ops@example.com"}
SERVERLESS = {"ModelDataUrl": MODEL_DATA_URL, "EndpointMemorySize": "3072", "EndpointMaxConcurrency": "20"}
# Parameters as `make publish` prints them on top of the ones of conftest; none is a default.
OPTIONS: dict[str, dict[str, str]] = {
    "existing-endpoint": {},
    "serverless": SERVERLESS,
    "instance": {**SERVERLESS, "EndpointInstanceType": "ml.m5.large", "EndpointInstanceCount": "2"},
    "capture": {
        **SERVERLESS,
        "EndpointInstanceType": "ml.m5.large",
        "EnableDataCapture": "true",
        "DataCapturePercent": "25",
        "DataCapturePrefix": "captured/churn",
    },
    "snapstart": {**SERVERLESS, "EnableSnapStart": "true"},
    "provisioned": {"ProvisionedConcurrency": "3"},
    "cognito": {"CognitoUserPoolArn": USER_POOL_ARN, "CreateApiGatewayLoggingRole": "false"},
    # Safe rollout: a canary of SnapStart versions with the stack's own model, and a whole switch checked first.
    "canary": {**SERVERLESS, **ROLLOUT, "EnableSnapStart": "true", "DeploymentType": "Canary10Percent5Minutes"},
    "all-at-once": {**ROLLOUT, "DeploymentType": "AllAtOnce", "AlarmEmail": ""},
    "bulk": {"EnableBulkScoring": "true", "BulkToleratedFailurePercentage": "2.5", "BulkMaxConcurrency": "40"},
}


def parameters(option: str) -> dict[str, str]:
    """Return every parameter override of one option."""
    return {**PARAMETERS_WITHOUT_KEYS, **OPTIONS[option]}


MODEL_ROLE_ARN = "arn:aws:iam::123456789012:role/churn-api-ChurnModelRole-XYZ"
ENDPOINT_LOG_GROUP_ARN = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/sagemaker/Endpoints/churn-xgboost-v2:*"
ACCESS_LOG_GROUP_ARN = "arn:aws:logs:eu-west-1:123456789012:log-group:churn-api-ChurnApiAccessLogGroup-ABC:*"
ALIAS_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:churn-api-ChurnFunction-abc:live"
ALARMS = (
    "ApiErrorRateAlarm",
    "ServerErrorsAlarm",
    "VersionErrorsAlarm",
    "VersionDurationAlarm",
    "ModelLatencyAlarm",
    "Endpoint5xxAlarm",
)
# What CloudFormation resolves for the resources these options add, besides conftest's.
CREATED = {
    "ChurnModelRole": {"Arn": MODEL_ROLE_ARN},
    "ChurnModel": {"ModelName": "ChurnModel-abc"},
    "ChurnEndpointConfig": {"EndpointConfigName": "ChurnEndpointConfig-abc"},
    "ChurnEndpointLogGroup": {"Arn": ENDPOINT_LOG_GROUP_ARN},
    "ChurnApiAccessLogGroup": {"Arn": ACCESS_LOG_GROUP_ARN},
    "ChurnFunctionAliaslive": ALIAS_ARN,
    "ApiGatewayAccount": "churn-api-account",
    "ChurnFunction": {"Arn": FUNCTION_ARN, "Ref": FUNCTION_ARN.rsplit(":", 1)[1]},
    "ChurnEndpoint": {"EndpointName": "churn-xgboost-v2"},
    "ServerlessDeploymentApplication": "churn-api-ServerlessDeploymentApplication-abc",
    "ChurnFunctionDeploymentGroup": "churn-api-ChurnFunctionDeploymentGroup-abc",
    "AlarmTopic": "arn:aws:sns:eu-west-1:123456789012:churn-api-AlarmTopic-abc",
    "PreTrafficCheck": "CodeDeployHook_churn-api",
    "PreTrafficCheckRole": {"Arn": "arn:aws:iam::123456789012:role/churn-api-PreTrafficCheckRole-abc"},
    "CodeDeployServiceRole": {"Arn": "arn:aws:iam::123456789012:role/churn-api-CodeDeployServiceRole-abc"},
    **{alarm: f"churn-api-{alarm}-abc" for alarm in ALARMS},
    "BulkBucket": {"Ref": "churn-api-bulkbucket-abc", "Arn": "arn:aws:s3:::churn-api-bulkbucket-abc"},
    "BulkScoreFunction": {"Arn": "arn:aws:lambda:eu-west-1:123456789012:function:churn-api-BulkScoreFunction-abc"},
    "BulkScoringStateMachine": "arn:aws:states:eu-west-1:123456789012:stateMachine:churn-api-bulk-scoring",
    "BulkScoringLogGroup": {"Arn": "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/x:*"},
}


@cache
def _expanded(option: str) -> tuple[dict[str, Any], IntrinsicResolver]:
    expanded = expand(parameters(option))
    versions = {k: {"Version": "1"} for k, r in expanded["Resources"].items() if r["Type"] == "AWS::Lambda::Version"}
    resolver = resolver_for(expanded, parameters(option), {**CREATED, **versions})
    return expanded, resolver


def expanded_with(option: str) -> tuple[dict[str, Any], IntrinsicResolver]:
    """Return the CloudFormation made of template.yaml for one option, and its resolver (expanded once)."""
    return _expanded(option)
