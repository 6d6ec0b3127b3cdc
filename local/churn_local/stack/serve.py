"""Run churn-api on this machine: a local SageMaker endpoint, local S3 and the local API, no AWS and no Docker.

`python -m churn_local.stack.serve` trains first if the artifacts are missing, then serves the real handler behind a
local API Gateway at http://127.0.0.1:3000 (POST /predict, demo page at /, Swagger UI at /swagger) until Ctrl-C
or SIGTERM. Like a deploy, it publishes the artifacts to the local S3 as `make publish` does and pins the function
to them (TransformKey, TransformSha256, FeatureSignature; a --parameter wins). Template parameters shape the local
API as they shape the deployed one: --cors-origin sets CorsAllowOrigin, --api-key sets RequireApiKey, --no-swagger
sets EnableSwagger=false, and --parameter CognitoUserPoolArn=<arn> makes the predict routes require an Authorization
header (present is enough: the token is NOT verified locally). --endpoint-fault and --s3-fault make the local SageMaker
endpoint or S3 misbehave (switchable later at <service>/_local/fault), and --function-timeout / --integration-timeout
shorten the function's Timeout and API Gateway's 29 s for tests.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from churn_api.rules import is_probability
from churn_local.constants import PROJECT_ROOT
from churn_local.services import faults
from churn_local.stack.local_stack import (
    API_KEY_VARIABLE,
    LocalStack,
    StackSettings,
    StartupError,
    local_aws_environment,
)

REFERENCE_PAYLOAD = PROJECT_ROOT / "events" / "direct-reference.json"
# Tests wait for this line; it also carries the real URLs when ports were chosen by the system (port 0).
READY_PREFIX = "churn-api local stack ready:"
# What ready_line() prints, for whoever starts the stack and waits for it (the tests, the benchmarks).
READY_LINE = re.compile(re.escape(READY_PREFIX) + r" api=(?P<api>\S+) endpoint=(?P<endpoint>\S+) s3=(?P<s3>\S+)")
# API Gateway refuses key values shorter than 20 characters (CDK's ApiKeyOptions.value: "Must be at least 20
# characters long"); 128 is the most it takes (the Terraform/Pulumi aws_api_gateway_api_key docs).
API_KEY_LENGTH = (20, 128)

log = logging.getLogger("churn_local.stack.serve")


def curl_command(
    api_url: str, payload: Mapping[str, Any], api_key: str | None = None, token_header: str | None = None
) -> str:
    """Return a ready-to-paste curl that posts the payload; JSON's \\u0027 keeps "Int'l Plan" inside '...'."""
    body = json.dumps(payload).replace("'", "\\u0027")
    key = f" -H 'x-api-key: {api_key}'" if api_key else ""
    # Any value passes locally (the token is not verified); deployed, it must be the user pool's ID token.
    token = f" -H '{token_header}: unverified-local-id-token'" if token_header else ""
    return f"curl -s -X POST {api_url}/predict -H 'Content-Type: application/json'{key}{token} -d '{body}'"


def ready_line(stack: LocalStack) -> str:
    """Return the line that says the stack answers, with every real URL."""
    return f"{READY_PREFIX} api={stack.api_url} endpoint={stack.endpoint_url} s3={stack.s3_url}"


def banner(stack: LocalStack) -> list[str]:
    """Return what a person needs to start using the stack, as the local API describes itself."""
    s = stack.settings
    pins = stack.overrides
    payload = json.loads(REFERENCE_PAYLOAD.read_text(encoding="utf-8"))
    served = stack.api.describe()
    tokens = {(method, resource): header for method, resource, header in served["token_required"]}
    lines = ["", "  API (like API Gateway, routes from the template)"]
    for method, resource, keyed in sorted(served["methods"], key=lambda m: (m[1], m[0])):
        needs = [f"{tokens[method, resource]} header"] if (method, resource) in tokens else []
        needs += ["x-api-key"] if keyed else []
        note = f"  ({' and '.join(needs)} required)" if needs else ""
        lines.append(f"    {method:<5} {stack.api_url}{resource}{note}")
    guarded = ", ".join(f"{method} {resource}" for method, resource, _ in served["token_required"])
    headers = ", ".join(sorted(set(tokens.values())))
    limits = ", ".join(f"{rate:g} requests/s, burst {burst}, per method" for rate, burst in served["throttling"])
    timeouts = ", ".join(f"{t:g} s" for t in served["function_timeout_s"].values())
    lines += [
        "",
        f"  Demo page                {stack.api_url}/",
        f"  Swagger UI               {stack.api_url}/swagger" if s.swagger else "  Swagger UI               off",
        f"  CORS allowed origin      {', '.join(served['cors_origins']) or 'none'}",
        "  API key                  "
        + ("required: header x-api-key" if served["api_key_required"] else "not required"),
        "  Cognito authorizer       "
        + (f"header {headers} required on {guarded} (present is enough: NOT verified locally)" if guarded else "off"),
        f"  Throttling               {limits or 'off'}",
        f"  Timeouts                 function {timeouts}, integration {served['integration_timeout_s']:g} s",
        f"  Function environments    {served['environments']}"
        + ("  (the handler in this process)" if served["environments"] == 1 else "  (processes side by side)"),
        f"  SageMaker endpoint       {stack.endpoint_url}/endpoints/{s.endpoint_name}/invocations",
        f"  S3 (moto)                {stack.s3_url}  s3://{s.bucket}/{pins['TransformKey']}",
        f"  Pinned (as deployed)     TransformSha256 {pins.get('TransformSha256') or 'none'}",
        f"                           FeatureSignature {pins.get('FeatureSignature') or 'none'}",
        f"  Faults                   endpoint {s.endpoint_fault.name}, S3 {s.s3_fault.name}"
        f"  (switch: PUT {stack.endpoint_url}{faults.CONTROL_PATH}, {stack.s3_url}{faults.CONTROL_PATH})",
        f"  Model                    version {pins.get('ModelVersion') or 'unpinned'}, threshold "
        + (f"{pins['Threshold']} (--threshold override)" if pins.get("Threshold") else f"{pins.get('ModelThreshold')}"),
        "",
        "  Try it with the reference customer:",
        "",
        f"    {curl_command(stack.api_url, payload, s.api_key, next(iter(tokens.values()), None))}",
        "",
        "  Ctrl-C stops everything.",
        "",
    ]
    return lines


def parse_args(argv: Sequence[str] | None = None) -> StackSettings:
    """Read the command line into settings."""
    d = StackSettings()
    parser = argparse.ArgumentParser(prog="python -m churn_local.stack.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=d.artifacts, help="trained artifacts (default: %(default)s)")
    parser.add_argument("--host", default=d.host, help="interface to listen on (default: %(default)s)")
    parser.add_argument("--api-port", type=_port, default=d.api_port, help="local API port, 0 = any free one")
    parser.add_argument("--endpoint-port", type=_port, default=d.endpoint_port, help="SageMaker endpoint port")
    parser.add_argument("--s3-port", type=_port, default=d.s3_port, help="local S3 (moto) port")
    parser.add_argument("--endpoint-name", default=d.endpoint_name, help="endpoint name (default: %(default)s)")
    parser.add_argument("--bucket", default=d.bucket, help="the artifacts' bucket (default: %(default)s)")
    parser.add_argument(
        "--threshold",
        type=float,
        default=d.threshold,
        help="override the cut-off (default: the one the model was trained with, metadata.json's threshold)",
    )
    parser.add_argument("--retrain", action="store_true", help="train again even if the artifacts exist")
    parser.add_argument("--template", type=Path, default=d.template, help="SAM template (default: %(default)s)")
    parser.add_argument(
        "--cors-origin",
        metavar="ORIGIN",
        help="the browser origin the API allows, e.g. http://localhost:5173 (template default: http://localhost:3000)",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        default=os.environ.get(API_KEY_VARIABLE) or None,
        help=f"require this x-api-key on POST /predict and /predict/batch (default: ${API_KEY_VARIABLE}, else none)",
    )
    parser.add_argument("--no-swagger", action="store_true", help="turn Swagger UI at /swagger off, as deployed")
    parser.add_argument(
        "--throttle", action="store_true", help="answer 429 past the template's ThrottleRateLimit/ThrottleBurstLimit"
    )
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        type=_assignment,
        help="override a template parameter, e.g. --parameter ThrottleRateLimit=5 (repeatable); "
        "CognitoUserPoolArn=<user pool ARN> makes the predict routes answer 401 without an Authorization header "
        "(its token is NOT verified locally)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        type=_assignment,
        help="override a function environment variable, e.g. --env POWERTOOLS_LOG_LEVEL=DEBUG (repeatable)",
    )
    parser.add_argument(
        "--environments",
        type=_count,
        default=d.environments,
        metavar="N",
        help="warm function environments: 1 (default) runs the handler in the stack's process; N > 1 runs N "
        "processes side by side, one invocation at a time each, like Lambda's concurrency (for load tests)",
    )
    _add_fault_arguments(parser, d)
    args = parser.parse_args(argv)
    if args.threshold is not None and not is_probability(args.threshold):
        parser.error("--threshold must be between 0 and 1")
    if args.api_key is not None and not api_key_is_valid(args.api_key):
        parser.error(
            f"--api-key (or ${API_KEY_VARIABLE}) must be {API_KEY_LENGTH[0]} to {API_KEY_LENGTH[1]} visible characters"
        )
    return StackSettings(
        artifacts=args.artifacts.resolve(),
        host=args.host,
        api_port=args.api_port,
        endpoint_port=args.endpoint_port,
        s3_port=args.s3_port,
        endpoint_name=args.endpoint_name,
        bucket=args.bucket,
        threshold=args.threshold,
        retrain=args.retrain,
        template=args.template.resolve(),
        env=dict(args.env),
        cors_origin=args.cors_origin,
        api_key=args.api_key,
        swagger=not args.no_swagger,
        throttle=args.throttle,
        parameters=dict(args.parameter),
        endpoint_fault=faults.Fault(args.endpoint_fault, args.fault_delay),
        s3_fault=faults.Fault(args.s3_fault),
        function_timeout_s=args.function_timeout,
        integration_timeout_s=args.integration_timeout,
        idle_timeout_s=args.idle_timeout,
        environments=args.environments,
    )


def _add_fault_arguments(parser: argparse.ArgumentParser, d: StackSettings) -> None:
    group = parser.add_argument_group(
        "faults and time limits",
        f"Faults can also be switched while the stack runs: PUT <endpoint or s3 url>{faults.CONTROL_PATH} with "
        '{"fault": NAME, "delay_s": SECONDS}; GET it for the fault in force and the number of calls.',
    )
    group.add_argument(
        "--endpoint-fault",
        choices=list(faults.ENDPOINT_FAULTS),
        default=d.endpoint_fault.name,
        metavar="FAULT",
        help="make InvokeEndpoint misbehave. " + faults.help_text(faults.ENDPOINT_FAULTS),
    )
    group.add_argument("--fault-delay", type=float, default=1.0, metavar="SECONDS", help="delay of 'slow' (default 1)")
    group.add_argument(
        "--s3-fault",
        choices=list(faults.S3_FAULTS),
        default=d.s3_fault.name,
        metavar="FAULT",
        help="make S3 GetObject misbehave. " + faults.help_text(faults.S3_FAULTS),
    )
    limits = [
        ("--function-timeout", None, "the function's Timeout instead of the template's (past it: 502)"),
        ("--integration-timeout", d.integration_timeout_s, "API Gateway's integration timeout (past it: 504)"),
        ("--idle-timeout", d.idle_timeout_s, "close connections idle or half-sent for this long"),
    ]
    for flag, default, text in limits:
        shown = "" if default is None else " (default: %(default)s)"
        group.add_argument(flag, type=_positive, default=default, metavar="SECONDS", help=text + shown)


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def api_key_is_valid(key: str) -> bool:
    """Tell whether API Gateway would take this as an API key value: 20 to 128 visible characters."""
    return (
        API_KEY_LENGTH[0] <= len(key) <= API_KEY_LENGTH[1] and key.isprintable() and not any(c.isspace() for c in key)
    )


def _count(text: str) -> int:
    count = int(text)
    if not 1 <= count <= 64:
        raise argparse.ArgumentTypeError(f"{text} is not between 1 and 64")
    return count


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (0-65535)")
    return port


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Start the stack, print how to use it, and serve until Ctrl-C or SIGTERM."""
    settings = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def say(text: str) -> None:
        print(text, flush=True)

    # SIGTERM (docker stop, systemd, CI) stops the stack exactly like Ctrl-C.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    stack = LocalStack(settings, say)
    ready = False
    try:
        stack.start()
        for line in banner(stack):
            say(line)
        say(ready_line(stack))
        ready = True
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        # A second Ctrl-C must not interrupt the shutdown half-way.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    say("churn-api local stack stopped")
    return 0 if ready else 130


# What other tools start the stack with (the benchmarks) reads from here.
__all__ = ["READY_LINE", "LocalStack", "StackSettings", "local_aws_environment", "main", "parse_args"]


if __name__ == "__main__":
    sys.exit(main())
