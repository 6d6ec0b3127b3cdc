"""The drift option of template.yaml, expanded offline: sampling, the scheduled check, its grants, its alarm."""

from __future__ import annotations

from churn_api.drift_handler import DriftSettings
from tests.template.conftest import PARAMETERS
from tests.template.deployed import created, environment, grants, of_type, properties
from tests.template.options import CREATED, DRIFT_BASELINE_KEY, MODEL_VERSION, OPTIONS

OPTION = "drift"
DRIFT_RESOURCES = ("DriftCheckFunction", "DriftCheckLogGroup", "DriftAlarm")
LOG_GROUP = CREATED["ChurnFunctionLogGroup"]


def test_without_the_option_nothing_is_sampled_and_no_drift_check_exists() -> None:
    for option in OPTIONS:
        if option != OPTION:
            assert not any(r in created(option) for r in DRIFT_RESOURCES), option
            assert environment(option)["DRIFT_SAMPLE_PERCENT"] == "0", option
    assert all(r in created(OPTION) for r in DRIFT_RESOURCES)
    assert environment(OPTION)["DRIFT_SAMPLE_PERCENT"] == "10"


def test_the_check_runs_on_eventbridge_schedulers_period_and_invokes_only_the_drift_function() -> None:
    (schedule,) = of_type(OPTION, "AWS::Scheduler::Schedule")
    props = properties(OPTION, schedule)
    assert props["ScheduleExpression"] == "rate(60 minutes)"
    assert props["Target"]["Arn"] == CREATED["DriftCheckFunction"]["Arn"]
    (role,) = [r for r in of_type(OPTION, "AWS::IAM::Role") if r.startswith("DriftCheckFunctionSchedule")]
    statements = [s for p in properties(OPTION, role)["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert grants(statements) == [("lambda:InvokeFunction", CREATED["DriftCheckFunction"]["Arn"])]


def test_the_check_is_given_the_published_baseline_the_samples_log_and_its_settings() -> None:
    variables = properties(OPTION, "DriftCheckFunction")["Environment"]["Variables"]
    settings = DriftSettings.from_env(variables)
    assert settings.log_group == LOG_GROUP["Ref"]
    assert (settings.bucket, settings.key, settings.sha256) == (
        PARAMETERS["TransformBucket"],
        DRIFT_BASELINE_KEY,
        "7b" * 32,
    )
    assert settings.model_version == MODEL_VERSION
    assert (settings.period_minutes, settings.min_samples, settings.alarm_psi) == (60, 500, 0.25)


def test_the_check_may_read_the_samples_and_the_baseline_and_put_metrics_in_its_namespace_only() -> None:
    role = properties(OPTION, "DriftCheckFunctionRole")
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert grants(statements) == [
        ("cloudwatch:PutMetricData", "*"),
        ("logs:FilterLogEvents", LOG_GROUP["Arn"]),
        ("s3:GetObject", f"arn:aws:s3:::{PARAMETERS['TransformBucket']}/{DRIFT_BASELINE_KEY}"),
    ]
    (metrics,) = [s for s in statements if s["Action"] == "cloudwatch:PutMetricData"]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "ChurnApi"}}


def test_the_largest_psi_over_the_alarm_level_alarms_into_the_alarm_topic() -> None:
    alarm = properties(OPTION, "DriftAlarm")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("ChurnApi", "MaxPSI", "Maximum")
    assert (alarm["ComparisonOperator"], float(alarm["Threshold"])) == ("GreaterThanThreshold", 0.25)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [CREATED["AlarmTopic"]]


def test_the_function_applies_the_published_threshold_unless_the_stack_overrides_it() -> None:
    # GIVEN the drift option's pins (a model trained with 0.5) and no Threshold override: the model's cut-off
    assert environment(OPTION)["THRESHOLD"] == "0.5"
    assert environment(OPTION)["MODEL_VERSION"] == MODEL_VERSION
    # AND the other options, which override it (Threshold 0.42) over the seed's ModelThreshold default: the override
    assert PARAMETERS["Threshold"] == environment("existing-endpoint")["THRESHOLD"] == "0.42"
    assert environment("existing-endpoint")["MODEL_VERSION"] == ""
