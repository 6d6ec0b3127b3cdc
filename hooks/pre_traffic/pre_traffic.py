"""CodeDeploy's pre-traffic hook: replay the published reference cases on the version about to take traffic.

CodeDeploy invokes this with ``{"DeploymentId", "LifecycleEventHookExecutionId"}`` before it shifts any of the
alias's traffic, then waits for PutLifecycleEventHookExecutionStatus: Succeeded lets the shift begin, Failed stops
the deployment (CloudFormation then rolls the stack back). The version checked is the deployment's TargetVersion,
read from CodeDeploy, never from the event. The cases (reference.json, written by `make publish` with the answers
its artifacts give) are read once, their sha256 checked, and each is invoked on that version: the status, the code
of an error, every score (to the document's tolerance) and label (score > THRESHOLD) must match, and every answer
must name the published model (its model.version: CHURN_MODEL_VERSION, else the document's model_version). A status is
reported whatever happens, before this function's own timeout: an unreported hook would hold the deployment for an
hour. Nothing logged comes from a case's body: case names, indexes and counts only.

The standard library and the runtime's boto3 only (no layer, no scikit-learn): a small package, a fast cold start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

logger = logging.getLogger("pre_traffic")
logger.setLevel(logging.INFO)

# The churn function answers within its own 25 s; a read waits a little longer, and a call is tried twice at most.
INVOKE_READ_TIMEOUT_S = 30.0
SERVICE_CONFIG = Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 3})
# Time kept to report the verdict: a case is not started with less than its worst case plus this left.
REPORT_MARGIN_MS = 10_000
TARGET_VERSION = re.compile(r"""TargetVersion["']?\s*:\s*["']?([0-9]+)""")


class CheckFailed(Exception):
    """The check cannot go on (no deployment, no cases, no time): the version is not shown to be right."""


class InvocationFailed(Exception):
    """Lambda did not answer an invocation (an error or no answer in time): the next ones would wait as long."""


@dataclass(frozen=True)
class Settings:
    """The hook's environment, set by template.yaml."""

    function_name: str
    alias: str
    bucket: str
    key: str
    sha256: str
    bucket_owner: str
    threshold: float
    invoke_read_timeout_s: float = INVOKE_READ_TIMEOUT_S
    # The version every answer must name (make publish's ModelVersion); empty: the one reference.json names.
    model_version: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Read the variables template.yaml sets."""
        return cls(
            function_name=env["CHURN_FUNCTION_NAME"],
            alias=env.get("CHURN_ALIAS", "live"),
            bucket=env["REFERENCE_BUCKET"],
            key=env["REFERENCE_KEY"],
            sha256=env.get("REFERENCE_SHA256", ""),
            bucket_owner=env.get("REFERENCE_BUCKET_OWNER", ""),
            threshold=float(env["CHURN_THRESHOLD"]),
            model_version=env.get("CHURN_MODEL_VERSION", ""),
        )


def target_version(codedeploy: Any, deployment_id: str, settings: Settings) -> str:
    """Return the qualified name of the version this deployment shifts the churn function's alias to.

    CloudFormation hands CodeDeploy the AppSpec as the revision's content; GetDeployment names the revision and
    GetApplicationRevision returns its content (a "String" revision, or "AppSpecContent").
    """
    info = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    revision = codedeploy.get_application_revision(applicationName=info["applicationName"], revision=info["revision"])
    content = next(
        (part["content"] for kind in ("string", "appSpecContent") if (part := revision["revision"].get(kind))), ""
    )
    try:
        resources = json.loads(content)["Resources"]
        (properties,) = [next(iter(resource.values()))["Properties"] for resource in resources]
        name, alias, version = properties["Name"], properties["Alias"], str(properties["TargetVersion"])
    except (ValueError, KeyError, TypeError, StopIteration):
        # An AppSpec in YAML: the one target version, read with the standard library.
        match = TARGET_VERSION.search(content)
        if not match:
            raise CheckFailed("the deployment names no TargetVersion") from None
        name, alias, version = settings.function_name, settings.alias, match[1]
    if name.rsplit(":", 1)[-1] != settings.function_name or alias != settings.alias:
        raise CheckFailed(f"the deployment shifts {name}:{alias}, not {settings.function_name}:{settings.alias}")
    return f"{settings.function_name}:{version}"


def load_cases(s3: Any, settings: Settings) -> dict[str, Any]:
    """Read reference.json from the stack's bucket; refuse bytes other than the published sha256."""
    request = {"Bucket": settings.bucket, "Key": settings.key}
    if settings.bucket_owner:
        request["ExpectedBucketOwner"] = settings.bucket_owner
    body = s3.get_object(**request)["Body"].read()
    if settings.sha256 and hashlib.sha256(body).hexdigest() != settings.sha256:
        raise CheckFailed("reference.json is not the published one (sha256 differs)")
    document: dict[str, Any] = json.loads(body)
    if not document.get("cases"):
        raise CheckFailed("reference.json holds no case")
    return document


def answer_of(payload: Any) -> tuple[int, Any]:
    """Return the status and body of the churn function's answer: an API Gateway response or a direct one."""
    if isinstance(payload, dict) and "statusCode" in payload:
        if "body" in payload:
            return int(payload["statusCode"]), json.loads(payload["body"] or "null")
        return int(payload["statusCode"]), payload  # a direct invocation's error
    return 200, payload


def problems_of(
    status: int, body: Any, expect: Mapping[str, Any], threshold: float, tolerance: float, version: str = ""
) -> list[str]:
    """Compare one answer with what the artifacts give; return what differs (indexes and counts, no values).

    With a version, a scored answer must name that model (its model.version)."""
    if status != expect["status"]:
        code = body.get("error", {}).get("code") if isinstance(body, dict) else None
        return [f"status {status} ({code}), expected {expect['status']}"]
    if status != 200:
        code = body.get("error", {}).get("code") if isinstance(body, dict) else None
        return [] if code == expect["code"] else [f"code {code}, expected {expect['code']}"]
    answers = body.get("results", [body])
    if len(answers) != len(expect["scores"]):
        return [f"{len(answers)} answers for {len(expect['scores'])} customers"]
    problems = []
    for index, (got, score) in enumerate(zip(answers, expect["scores"], strict=True)):
        label = "True" if score > threshold else "False"
        if not isinstance(got.get("score"), float | int) or abs(got["score"] - score) > tolerance:
            problems.append(f"customer {index}: score off by more than {tolerance:g}")
        elif got.get("label") != label or got.get("churn") is not (label == "True"):
            problems.append(f"customer {index}: label {got.get('label')}, expected {label}")
    if body.get("threshold") != threshold:
        problems.append(f"threshold {body.get('threshold')}, expected {threshold}")
    named = body.get("model", {}).get("version") if isinstance(body.get("model"), dict) else None
    if version and named != version:
        problems.append(f"model version {named}, expected {version}")
    return problems


def check_case(
    lambda_client: Any, target: str, case: Mapping[str, Any], settings: Settings, tolerance: float, version: str = ""
) -> list[str]:
    """Invoke the target version with one case; return its problems, each prefixed with the case's name."""
    try:
        response = lambda_client.invoke(
            FunctionName=target, InvocationType="RequestResponse", Payload=json.dumps(case["event"]).encode()
        )
        payload = json.loads(response["Payload"].read() or b"null")
    except (ClientError, BotoCoreError) as exc:
        raise InvocationFailed(f"{case['name']}: the invocation failed ({type(exc).__name__})") from exc
    if response.get("FunctionError"):
        kind = payload.get("errorType") if isinstance(payload, dict) else None
        return [f"{case['name']}: the function failed ({response['FunctionError']}, {kind})"]
    try:
        status, body = answer_of(payload)
        problems = problems_of(status, body, case["expect"], settings.threshold, tolerance, version)
    except (ValueError, KeyError, TypeError, AttributeError):
        problems = ["the answer is not shaped as the function answers"]
    return [f"{case['name']}: {problem}" for problem in problems]


def check(event: Mapping[str, Any], clients: Mapping[str, Any], settings: Settings, remaining_ms: Any) -> list[str]:
    """Replay every case on the deployment's target version; return the problems found (none: it may go live)."""
    target = target_version(clients["codedeploy"], event["DeploymentId"], settings)
    document = load_cases(clients["s3"], settings)
    tolerance = float(document.get("tolerance", 1e-9))
    version = settings.model_version or str(document.get("model_version", ""))
    worst_case_ms = 2 * settings.invoke_read_timeout_s * 1000
    problems: list[str] = []
    for case in document["cases"]:
        if remaining_ms() < worst_case_ms + REPORT_MARGIN_MS:
            raise CheckFailed(f"out of time before {case['name']}")
        try:
            problems += check_case(clients["lambda"], target, case, settings, tolerance, version)
        except InvocationFailed as exc:
            problems.append(str(exc))
            break
    logger.info(json.dumps({"target": target, "cases": len(document["cases"]), "problems": len(problems)}))
    return problems


def clients_for(settings: Settings) -> dict[str, Any]:
    """Return the clients the check uses, with timeouts sized to the churn function's budget."""
    invoke = Config(connect_timeout=5, read_timeout=settings.invoke_read_timeout_s, retries={"total_max_attempts": 2})
    return {
        "codedeploy": boto3.client("codedeploy", config=SERVICE_CONFIG),
        "lambda": boto3.client("lambda", config=invoke),
        "s3": boto3.client("s3", config=SERVICE_CONFIG),
    }


def run(event: Mapping[str, Any], clients: Mapping[str, Any], settings: Settings, remaining_ms: Any) -> dict[str, Any]:
    """Check, then report Succeeded or Failed to CodeDeploy whatever happened; return the verdict."""
    try:
        problems = check(event, clients, settings, remaining_ms)
    except (CheckFailed, ClientError, BotoCoreError, ValueError, KeyError) as exc:
        problems = [f"the check could not run: {type(exc).__name__}: {exc}"]
    status = "Failed" if problems else "Succeeded"
    for problem in problems[:50]:
        logger.error(json.dumps({"problem": problem}))
    clients["codedeploy"].put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )
    logger.info(json.dumps({"deployment": event["DeploymentId"], "status": status, "problems": len(problems)}))
    return {"status": status, "problems": problems[:50]}


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """CodeDeploy's entry point."""
    settings = Settings.from_env()
    return run(event, clients_for(settings), settings, context.get_remaining_time_in_millis)
