"""The bulk scoring option of template.yaml, expanded offline: the state machine's definition, the function, the IAM."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from churn_api.bulk import BatchInput, BatchNotScored, IndexedRow
from churn_api.predictor import DEFAULT_CHUNK_ROWS
from churn_local.constants import PROJECT_ROOT
from tests.template.conftest import load_template
from tests.template.deployed import created, grants, properties, resolved
from tests.template.options import CREATED, OPTIONS, expanded_with

OPTION = "bulk"
BUCKET_ARN = CREATED["BulkBucket"]["Arn"]
FUNCTION_ARN = CREATED["BulkScoreFunction"]["Arn"]
# Step Functions refuses a child execution's input over 256 KiB.
MAX_CHILD_INPUT_BYTES = 256 * 1024
BULK_RESOURCES = ("BulkBucket", "BulkScoreFunction", "BulkScoringStateMachine")


def definition() -> dict[str, Any]:
    """Return the state machine's definition as Step Functions receives it: joined, with its substitutions made."""
    state_machine = properties(OPTION, "BulkScoringStateMachine")
    text = state_machine["DefinitionString"]
    text = text if isinstance(text, str) else "\n".join(text["Fn::Join"][1])
    for name, value in state_machine["DefinitionSubstitutions"].items():
        text = text.replace("${" + name + "}", str(value))
    assert "${" not in text
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def maps() -> dict[str, dict[str, Any]]:
    return {name: state for name, state in definition()["States"].items() if state["Type"] == "Map"}


def test_without_the_option_nothing_of_bulk_scoring_is_created() -> None:
    assert not any(r in created(option) for option in OPTIONS if option != OPTION for r in BULK_RESOURCES)
    assert all(r in created(OPTION) for r in BULK_RESOURCES)


def test_a_csv_is_read_with_its_header_in_the_first_line_and_json_lines_by_their_suffix() -> None:
    states = definition()["States"]
    by_suffix = states["ByFormat"]["Choices"][0]
    assert [c["StringMatches"] for c in by_suffix["Or"]] == ["*.jsonl", "*.ndjson"]
    assert by_suffix["Next"] == "ScoreJsonLines" and states["ByFormat"]["Default"] == "ScoreCsv"
    assert states["ScoreCsv"]["ItemReader"]["ReaderConfig"] == {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"}
    assert states["ScoreJsonLines"]["ItemReader"]["ReaderConfig"] == {"InputType": "JSONL"}
    for state in (states["ScoreCsv"], states["ScoreJsonLines"]):
        assert state["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
        assert state["ItemReader"]["Parameters"] == {"Bucket": "churn-api-bulkbucket-abc", "Key.$": "$.key"}


def test_both_maps_are_one_distributed_map_but_for_their_reader() -> None:
    csv_map, json_lines_map = maps()["ScoreCsv"], maps()["ScoreJsonLines"]
    for state in (csv_map, json_lines_map):
        del state["ItemReader"]["ReaderConfig"]
    assert csv_map == json_lines_map
    assert csv_map["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}


def test_batches_hold_at_most_250_rows_one_endpoint_chunk_of_the_api_within_a_childs_input_limit() -> None:
    for state in maps().values():
        batcher = state["ItemBatcher"]
        assert batcher["MaxItemsPerBatch"] == DEFAULT_CHUNK_ROWS == 250
        assert batcher["MaxInputBytesPerBatch"] <= MAX_CHILD_INPUT_BYTES - 10 * 1024  # room for BatchInput


def test_each_item_and_batch_input_is_what_the_bulk_function_reads() -> None:
    for state in maps().values():
        assert state["ItemSelector"] == {"index.$": "$$.Map.Item.Index", "row.$": "$$.Map.Item.Value"}
        assert set(state["ItemSelector"]) == {f"{name}.$" for name in IndexedRow.model_fields}
        assert set(state["ItemBatcher"]["BatchInput"]) == {f"{name}.$" for name in BatchInput.model_fields}
        assert state["ItemBatcher"]["BatchInput"]["execution.$"] == "$$.Execution.Name"


def test_each_batch_invokes_the_bulk_function_and_retries_what_it_raises_when_the_service_fails() -> None:
    for state in maps().values():
        task = state["ItemProcessor"]["States"][state["ItemProcessor"]["StartAt"]]
        assert task["Resource"] == "arn:aws:states:::lambda:invoke"
        assert task["Parameters"] == {"FunctionName": FUNCTION_ARN, "Payload.$": "$"}
        (retry,) = task["Retry"]
        assert BatchNotScored.__name__ in retry["ErrorEquals"]
        assert retry["MaxAttempts"] == 3


def test_the_tolerated_failures_and_concurrency_are_the_parameters_as_numbers() -> None:
    configure = definition()["States"]["Configure"]["Parameters"]
    assert configure["maxConcurrency.$"] == "States.StringToJson('40')"
    assert configure["toleratedFailurePercentage.$"] == "States.StringToJson('2.5')"
    for state in maps().values():
        assert state["MaxConcurrencyPath"] == "$.maxConcurrency"
        assert state["ToleratedFailurePercentagePath"] == "$.toleratedFailurePercentage"
        assert state["ResultWriter"]["Parameters"]["Prefix"].startswith("output/")


def test_the_bulk_function_is_the_api_functions_package_layer_settings_and_time_budget_with_its_own_handler() -> None:
    api, bulk = properties(OPTION, "ChurnFunction"), properties(OPTION, "BulkScoreFunction")
    assert bulk["Handler"] == "churn_api.bulk_handler.lambda_handler"
    for same in ("Layers", "Runtime", "Timeout", "MemorySize", "Architectures"):
        assert bulk[same] == api[same], same
    written = load_template()["Resources"]
    assert written["BulkScoreFunction"]["Properties"]["CodeUri"] == written["ChurnFunction"]["Properties"]["CodeUri"]
    # The API's own: CORS, Swagger, loading at init for SnapStart, MODEL_DATA_URL (which versions it per model for
    # the canary) and drift sampling (of the API's traffic); its service name differs.
    api_only = {
        "CORS_ALLOW_ORIGINS",
        "ENABLE_SWAGGER",
        "EAGER_INIT",
        "MODEL_DATA_URL",
        "POWERTOOLS_SERVICE_NAME",
        "DRIFT_SAMPLE_PERCENT",
    }
    variables = bulk["Environment"]["Variables"]
    assert {k: v for k, v in api["Environment"]["Variables"].items() if k not in api_only} == {
        k: v for k, v in variables.items() if k not in ("BULK_BUCKET", "POWERTOOLS_SERVICE_NAME")
    }
    assert variables["BULK_BUCKET"] == "churn-api-bulkbucket-abc"


def inline_grants(role_of: str) -> list[tuple[str, str]]:
    _, deployed = expanded_with(OPTION)
    roles = [r for r in created(OPTION).values() if r["Type"] == "AWS::IAM::Role"]
    (role,) = [r for r in roles if role_of in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])]
    policies = resolved(deployed, role["Properties"].get("Policies", []))
    return grants([s for p in policies for s in p["PolicyDocument"]["Statement"]])


def test_the_bulk_function_may_invoke_the_one_endpoint_read_the_transformation_and_write_under_output_only() -> None:
    bulk_role = properties(OPTION, "BulkScoreFunctionRole")
    statements = [s for p in bulk_role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert grants(statements) == [
        ("s3:GetObject", "arn:aws:s3:::churn-api-artifacts-test/models/2026/transformation.sav"),
        ("s3:PutObject", f"{BUCKET_ARN}/output/*"),
        ("sagemaker:InvokeEndpoint", "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/churn-xgboost-v2"),
    ]


def test_the_state_machine_reads_input_writes_output_invokes_one_function_and_starts_only_its_own_children() -> None:
    granted = [g for g in inline_grants("states.amazonaws.com") if not g[0].startswith("logs:")]
    name = properties(OPTION, "BulkScoringStateMachine")["StateMachineName"]
    assert granted == sorted(
        [
            ("lambda:InvokeFunction", FUNCTION_ARN),
            ("s3:AbortMultipartUpload", f"{BUCKET_ARN}/output/*"),
            ("s3:GetObject", f"{BUCKET_ARN}/input/*"),
            ("s3:ListMultipartUploadParts", f"{BUCKET_ARN}/output/*"),
            ("s3:PutObject", f"{BUCKET_ARN}/output/*"),
            ("states:DescribeExecution", f"arn:aws:states:eu-west-1:123456789012:execution:{name}/*"),
            ("states:StartExecution", f"arn:aws:states:eu-west-1:123456789012:stateMachine:{name}"),
            ("states:StopExecution", f"arn:aws:states:eu-west-1:123456789012:execution:{name}/*"),
        ]
    )


def test_an_upload_under_input_starts_the_state_machine_with_its_key_as_a_start_by_hand_would() -> None:
    (rule,) = [r for r in created(OPTION).values() if r["Type"] == "AWS::Events::Rule"]
    _, deployed = expanded_with(OPTION)
    rule = resolved(deployed, rule["Properties"])
    assert rule["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": ["churn-api-bulkbucket-abc"]}, "object": {"key": [{"prefix": "input/"}]}},
    }
    (target,) = rule["Targets"]
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"] == {"key": "$.detail.object.key"}
    assert json.loads(re.sub(r"<key>", '"input/customers.csv"', transformer["InputTemplate"])) == {
        "key": "input/customers.csv"
    }
    bucket = properties(OPTION, "BulkBucket")
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}


def test_customer_files_expire_after_30_days_and_the_bucket_answers_over_tls_only() -> None:
    rules = properties(OPTION, "BulkBucket")["LifecycleConfiguration"]["Rules"]
    assert [r["ExpirationInDays"] for r in rules if r["Status"] == "Enabled" and "Prefix" not in r] == [30]
    (statement,) = properties(OPTION, "BulkBucketPolicy")["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert f"{BUCKET_ARN}/*" in statement["Resource"]


def test_the_bulk_handler_is_a_module_level_function_of_the_package_and_the_outputs_name_bucket_and_machine() -> None:
    source = load_template()["Resources"]["BulkScoreFunction"]["Properties"]
    module, _, name = source["Handler"].rpartition(".")
    tree = ast.parse((PROJECT_ROOT / source["CodeUri"] / (module.replace(".", "/") + ".py")).read_text("utf-8"))
    assert name in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    expanded, deployed = expanded_with(OPTION)
    outputs = {k: resolved(deployed, o["Value"]) for k, o in expanded["Outputs"].items() if k.startswith("Bulk")}
    assert outputs == {
        "BulkBucketName": "churn-api-bulkbucket-abc",
        "BulkStateMachineArn": CREATED["BulkScoringStateMachine"],
    }
    assert {expanded["Outputs"][k]["Condition"] for k in outputs} == {"BulkScoring"}
