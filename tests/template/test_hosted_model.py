"""The hosted model each option makes of template.yaml: the built-in XGBoost image per region, serverless or
real-time, the endpoint the function calls and the model's role."""

from __future__ import annotations

import re
from typing import Any

import pytest

from churn_api.config import ENDPOINT_PAYLOAD_LIMITS, Settings
from churn_local.constants import PROJECT_ROOT
from churn_local.template import images
from churn_local.template.samcli import resolved
from churn_local.training.train import TARGET_CONTAINER
from tests.template.conftest import (
    ACCOUNT_ID,
    PARAMETERS,
    REGION,
    expand,
    resolver_for,
)
from tests.template.deployed import (
    EACH_OPTION,
    ENDPOINT_KINDS,
    HOSTED,
    created,
    environment,
    grants,
    properties,
)
from tests.template.options import (
    ENDPOINT_LOG_GROUP_ARN,
    MODEL_BUCKET,
    MODEL_DATA_URL,
    MODEL_KEY,
    OPTIONS,
    parameters,
)


@EACH_OPTION
def test_the_model_is_hosted_only_when_model_data_url_is_set(option: str) -> None:
    hosted = [logical_id for logical_id in HOSTED if logical_id in created(option)]
    assert hosted == (list(HOSTED) if "ModelDataUrl" in OPTIONS[option] else [])


@EACH_OPTION
def test_the_function_learns_its_endpoint_kind_and_chunks_below_that_kinds_limit(option: str) -> None:
    variables = environment(option)
    assert variables["ENDPOINT_KIND"] == ENDPOINT_KINDS[option]
    settings = Settings.from_env(variables)
    assert settings.max_chunk_bytes < ENDPOINT_PAYLOAD_LIMITS[ENDPOINT_KINDS[option]]
    assert settings.bucket_owner == ACCOUNT_ID


def test_the_pins_reach_the_function_as_published() -> None:
    digest, signature = "0123456789abcdef" * 4, "fedcba9876543210" * 4
    overrides = {**parameters("serverless"), "TransformSha256": digest, "FeatureSignature": signature}
    pinned = expand(overrides)
    environment = pinned["Resources"]["ChurnFunction"]["Properties"]["Environment"]
    variables = resolved(resolver_for(pinned, overrides), environment)["Variables"]
    settings = Settings.from_env(variables)
    assert (settings.transform_sha256, settings.feature_signature) == (digest, signature)


def test_the_template_mapping_is_the_generators_output_for_every_region(template: dict[str, Any]) -> None:
    registry = images.load_registry()
    assert template["Mappings"][images.MAPPING_NAME] == images.mapping(registry)
    assert images.main(["--check"]) == 0
    sdk = registry["inference"][images.IMAGE_VERSION]["registries"]
    assert len(template["Mappings"][images.MAPPING_NAME]) == len(sdk) > 30
    for region, account in sdk.items():
        assert template["Mappings"][images.MAPPING_NAME][region] == {"Account": account}
        assert re.fullmatch(r"[0-9]{12}", account)


def test_the_shipped_image_registry_is_the_workplace_reference_copy() -> None:
    # The project ships its own copy (data/reference); where the shared reference sits beside it, they agree.
    shared = PROJECT_ROOT.parent / "shared" / "reference" / images.REGISTRY_PATH.name
    if not shared.exists():
        pytest.skip(f"{shared} is not beside this checkout")
    assert images.load_registry() == images.load_registry(shared)


def test_the_generator_refuses_a_template_whose_mapping_is_stale(tmp_path: Any) -> None:
    stale = tmp_path / "template.yaml"
    text = images.TEMPLATE_PATH.read_text(encoding="utf-8")
    stale.write_text(text.replace('"141502667606"', '"000000000000"'), encoding="utf-8")
    assert images.main(["--check", "--template", str(stale)]) == 1
    assert images.main(["--write", "--template", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == text


@pytest.mark.parametrize("option", ["serverless", "instance"])
def test_the_model_runs_the_built_in_xgboost_3_2_0_image_of_the_region_on_the_published_archive(option: str) -> None:
    model = properties(option, "ChurnModel")
    account = images.image_accounts(images.load_registry())[REGION]
    assert model["PrimaryContainer"] == {
        "Mode": "SingleModel",
        "ModelDataUrl": MODEL_DATA_URL,
        "Image": f"{account}.dkr.ecr.{REGION}.amazonaws.com/sagemaker-xgboost:3.2-0",
    }
    # The version make train packages the model for.

    assert model["PrimaryContainer"]["Image"].endswith(f":{TARGET_CONTAINER['framework_version']}")
    assert model["EnableNetworkIsolation"] is True


def test_serverless_by_default_with_the_memory_and_concurrency_asked_for() -> None:
    (variant,) = properties("serverless", "ChurnEndpointConfig")["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": "3072", "MaxConcurrency": "20"}
    assert "InstanceType" not in variant and "InitialInstanceCount" not in variant


def test_an_instance_type_makes_the_endpoint_real_time_with_the_count_asked_for() -> None:
    (variant,) = properties("instance", "ChurnEndpointConfig")["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.large", "2")
    assert "ServerlessConfig" not in variant


@pytest.mark.parametrize("option", ["serverless", "instance"])
def test_the_endpoint_is_named_as_the_function_calls_it_and_the_functions_policy_names_it(option: str) -> None:
    endpoint = properties(option, "ChurnEndpoint")
    assert endpoint["EndpointName"] == environment(option)["ENDPOINT_NAME"] == PARAMETERS["EndpointName"]
    assert created(option)["ChurnEndpoint"]["Properties"]["EndpointConfigName"] == {
        "Fn::GetAtt": ["ChurnEndpointConfig", "EndpointConfigName"]
    }
    role = properties(option, "ChurnFunctionRole")
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:endpoint/{endpoint['EndpointName']}"
    sagemaker = [g for g in grants([s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]])]
    assert ("sagemaker:InvokeEndpoint", arn) in sagemaker
    assert {r for a, r in sagemaker if a.startswith("sagemaker:")} == {arn}


def test_the_models_role_reads_one_object_pulls_one_repository_and_writes_its_own_logs() -> None:
    role = properties("serverless", "ChurnModelRole")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    assert "ManagedPolicyArns" not in role
    account = images.image_accounts(images.load_registry())[REGION]
    repository = f"arn:aws:ecr:{REGION}:{account}:repository/sagemaker-xgboost"
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert grants(statements) == [
        ("ecr:BatchCheckLayerAvailability", repository),
        ("ecr:BatchGetImage", repository),
        ("ecr:GetAuthorizationToken", "*"),
        ("ecr:GetDownloadUrlForLayer", repository),
        ("logs:CreateLogStream", ENDPOINT_LOG_GROUP_ARN),
        ("logs:DescribeLogStreams", ENDPOINT_LOG_GROUP_ARN),
        ("logs:PutLogEvents", ENDPOINT_LOG_GROUP_ARN),
        ("s3:GetObject", f"arn:aws:s3:::{MODEL_BUCKET}/{MODEL_KEY}"),
    ]
    group = properties("serverless", "ChurnEndpointLogGroup")
    assert group["LogGroupName"] == f"/aws/sagemaker/Endpoints/{PARAMETERS['EndpointName']}"
    assert group["RetentionInDays"] == 30
