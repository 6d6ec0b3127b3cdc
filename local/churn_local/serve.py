"""Run churn-api on this machine: a local SageMaker endpoint, local S3 and the local API, no AWS and no Docker.

`python -m churn_local.serve` trains first if the artifacts are missing, then serves the real handler behind a
local API Gateway at http://127.0.0.1:3000 (POST /predict, demo page at /, Swagger UI at /swagger) until Ctrl-C
or SIGTERM. Template parameters shape the local API as they shape the deployed one: --cors-origin sets
CorsAllowOrigin, --api-key sets RequireApiKey, --no-swagger sets EnableSwagger=false. --endpoint-fault and
--s3-fault make the local SageMaker endpoint or S3 misbehave (switchable later at <service>/_local/fault), and
--function-timeout / --integration-timeout shorten the function's Timeout and API Gateway's 29 s for tests.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from churn_local import faults
from churn_local.constants import (
    ARTIFACT_FILES,
    DEFAULT_ARTIFACTS,
    LOCAL_REGION,
    MODEL_ARCHIVE,
    PROJECT_ROOT,
    TEMPLATE,
    TRANSFORMATION_FILE,
)
from churn_local.http_server import DEFAULT_IDLE_TIMEOUT_S

REFERENCE_PAYLOAD = PROJECT_ROOT / "events" / "direct-reference.json"
# Tests wait for this line; it also carries the real URLs when ports were chosen by the system (port 0).
READY_PREFIX = "churn-api local stack ready:"
# What ready_line() prints, for whoever starts the stack and waits for it (the tests, the benchmarks).
READY_LINE = re.compile(re.escape(READY_PREFIX) + r" api=(?P<api>\S+) endpoint=(?P<endpoint>\S+) s3=(?P<s3>\S+)")
# The variable `--api-key` falls back to, so a key need not appear in the shell history or the process list.
API_KEY_VARIABLE = "CHURN_API_KEY"
# API Gateway refuses key values shorter than 20 characters (CDK's ApiKeyOptions.value: "Must be at least 20
# characters long"); 128 is the most it takes (the Terraform/Pulumi aws_api_gateway_api_key docs).
API_KEY_LENGTH = (20, 128)

log = logging.getLogger("churn_local.serve")


class StartupError(RuntimeError):
    """The stack cannot start; the message is the one line the user sees."""


@dataclass(frozen=True)
class StackSettings:
    """What to serve and where (the function's own settings are churn_api.config.Settings)."""

    artifacts: Path = DEFAULT_ARTIFACTS
    host: str = "127.0.0.1"
    api_port: int = 3000
    endpoint_port: int = 8080
    s3_port: int = 5000
    endpoint_name: str = "churn-xgboost"
    bucket: str = "churn-api-local"
    threshold: float = 0.39
    retrain: bool = False
    template: Path = TEMPLATE
    # Function environment variables that win over what the template resolves to (like `sam local --env-vars`).
    env: Mapping[str, str] = field(default_factory=dict)
    # The browser origin the API allows (CorsAllowOrigin); None keeps the template's default.
    cors_origin: str | None = None
    # The key POST /predict and /predict/batch then require (RequireApiKey=true); None requires none.
    api_key: str | None = None
    # Swagger UI at /swagger (EnableSwagger): on locally, off by default once deployed.
    swagger: bool = True
    # Enforce the stage's MethodSettings throttling (429 past rate and burst); off so tests and benchmarks can burst.
    throttle: bool = False
    # Further template parameter overrides (like `sam local start-api --parameter-overrides`).
    parameters: Mapping[str, str] = field(default_factory=dict)
    # Fault injection and time limits (tests shorten them so a timeout takes seconds).
    endpoint_fault: faults.Fault = faults.NO_FAULT
    s3_fault: faults.Fault = faults.NO_FAULT
    function_timeout_s: float | None = None
    integration_timeout_s: float = 29.0
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S

    def parameter_overrides(self) -> dict[str, str]:
        """Return the template parameters this run sets: the local resources, then the front-end switches."""
        overrides = dict(self.parameters)
        overrides.update(
            {
                "EndpointName": self.endpoint_name,
                "TransformBucket": self.bucket,
                "TransformKey": TRANSFORMATION_FILE,
                "Threshold": str(self.threshold),
                "EnableSwagger": "true" if self.swagger else "false",
            }
        )
        if self.cors_origin is not None:
            overrides["CorsAllowOrigin"] = self.cors_origin
        if self.api_key is not None:
            overrides["RequireApiKey"] = "true"
        return overrides


def needs_training(artifacts: Path) -> bool:
    """Tell whether any artifact the stack serves is missing."""
    return not all((artifacts / name).is_file() for name in ARTIFACT_FILES)


def ensure_artifacts(settings: StackSettings, say: Callable[[str], None]) -> None:
    """Train into the artifacts folder when asked to or when something is missing, saying how long it took."""
    if not settings.retrain and not needs_training(settings.artifacts):
        return
    reason = "retraining as asked" if settings.retrain else f"no trained model in {settings.artifacts}"
    say(f"{reason}: training on the bundled data set (a few seconds)...")
    from churn_local import train  # xgboost and matplotlib load only to train

    started = time.perf_counter()
    metadata = train.train(out_dir=settings.artifacts, threshold=settings.threshold)
    auc = metadata.get("metrics", {}).get("auc")
    detail = f" (held-out AUC {auc:.3f})" if isinstance(auc, float) else ""
    say(f"trained in {time.perf_counter() - started:.1f} s{detail}; artifacts in {settings.artifacts}")


def check_port_free(host: str, port: int, what: str, option: str) -> None:
    """Fail with one clear line when a fixed port is taken (port 0 always finds a free one)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise StartupError(bind_error(exc, host, port, what, option)) from None


def bind_error(exc: OSError, host: str, port: int, what: str, option: str) -> str:
    """Explain a failed bind in one line."""
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is already in use, so the {what} cannot start: free it or pass {option} <port>"
    if exc.errno == errno.EACCES:
        return f"no permission to listen on {host}:{port} for the {what}: pass {option} with a port above 1024"
    return f"cannot listen on {host}:{port} for the {what}: {exc.strerror or exc}"


def local_aws_environment(s3_url: str, endpoint_url: str, runtime_url: str | None = None) -> dict[str, str]:
    """Return the variables that point the handler's unchanged boto3 code at the local services."""
    return {
        # boto3's standard per-service endpoint variables; the global one catches every other service, so
        # nothing the handler calls can leave this machine.
        "AWS_ENDPOINT_URL_S3": s3_url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": runtime_url or endpoint_url,
        # The control plane (DescribeEndpoint, for GET /health/ready) is served by the same local endpoint.
        "AWS_ENDPOINT_URL_SAGEMAKER": endpoint_url,
        "AWS_ENDPOINT_URL": s3_url,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,
        # Dummy credentials: the local services ignore signatures, and no real account is ever reached.
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "churn-api",
        # No X-Ray daemon locally.
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


class LocalStack:
    """The three local services, started in order and stopped in reverse."""

    def __init__(self, settings: StackSettings, say: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.say = say
        self._stops: list[Callable[[], None]] = []
        self.api_url = self.endpoint_url = self.s3_url = ""
        # The URL the function's runtime client uses: the endpoint's own, or a closed port when it is "down".
        self.runtime_url = ""
        self.api: Any = None

    def start(self) -> None:
        """Train if needed, then start the endpoint, S3 and the API; on any failure stop what started."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        from churn_local import apigw

        s = self.settings
        check_port_free(s.host, s.api_port, "local API", "--api-port")
        check_port_free(s.host, s.endpoint_port, "local SageMaker endpoint", "--endpoint-port")
        check_port_free(s.host, s.s3_port, "local S3", "--s3-port")
        ensure_artifacts(s, self.say)

        overrides = s.parameter_overrides()
        if overrides.get("RequireApiKey") == "true" and not s.api_key:
            raise StartupError(f"RequireApiKey=true needs a key: pass --api-key KEY or set {API_KEY_VARIABLE}")
        try:
            # The template maps its parameters onto the function's environment and the API's settings, as `sam
            # local start-api --parameter-overrides` would.
            application = apigw.Application.from_template(s.template, overrides, region=LOCAL_REGION)
        except (OSError, apigw.TemplateError) as exc:
            raise StartupError(f"cannot serve {s.template}: {exc}") from exc
        api = apigw.LocalApi(
            application,
            region=LOCAL_REGION,
            api_keys=[s.api_key] if s.api_key else [],
            throttle=s.throttle,
            function_timeout_s=s.function_timeout_s,
            integration_timeout_s=s.integration_timeout_s,
        )
        self.api = api
        api_server = self._bind(
            lambda: apigw.make_server(api, s.host, s.api_port, s.idle_timeout_s), s.api_port, "local API", "--api-port"
        )
        self._stops.append(api_server.server_close)
        self.api_url = _url(api_server.server_address)

        self.endpoint_url = self._start_endpoint()
        self.s3_url = self._start_s3()
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", None)
        os.environ.update(local_aws_environment(self.s3_url, self.endpoint_url, self.runtime_url))
        self._upload_transformation()

        # The handler module reads its settings at import time, so its environment is in place first.
        try:
            api.load(dict(s.env))
        except Exception as exc:
            raise StartupError(f"the handler failed to load: {type(exc).__name__}: {exc}") from exc
        self._serve(api_server, "local-api")

    def _bind(self, make: Callable[[], Any], port: int, what: str, option: str) -> Any:
        try:
            return make()
        except OSError as exc:
            raise StartupError(bind_error(exc, self.settings.host, port, what, option)) from None

    def _serve(self, server: Any, name: str) -> None:
        # A short poll interval makes shutdown() (Ctrl-C) return promptly.
        thread = threading.Thread(target=server.serve_forever, args=(0.1,), name=name, daemon=True)
        thread.start()

        def stop() -> None:
            server.shutdown()
            thread.join(timeout=10)

        self._stops.append(stop)

    def _start_endpoint(self) -> str:
        from churn_local import sagemaker_endpoint

        s = self.settings
        try:
            server = self._bind(
                lambda: sagemaker_endpoint.make_server(
                    s.artifacts / MODEL_ARCHIVE,
                    s.endpoint_name,
                    host=s.host,
                    port=s.endpoint_port,
                    fault=s.endpoint_fault if s.endpoint_fault.name != "down" else faults.NO_FAULT,
                    idle_timeout_s=s.idle_timeout_s,
                ),
                s.endpoint_port,
                "local SageMaker endpoint",
                "--endpoint-port",
            )
        except ValueError as exc:
            raise StartupError(str(exc)) from exc
        self._stops.append(server.server_close)
        self._serve(server, "sagemaker-endpoint")
        self.runtime_url = server.url
        if s.endpoint_fault.name == "down":
            # A socket bound but not listening: every connection is refused, and no other program takes the port.
            closed = socket.socket(server.address_family, socket.SOCK_STREAM)
            closed.bind((s.host, 0))
            self._stops.append(closed.close)
            self.runtime_url = _url(closed.getsockname())
        return str(server.url)

    def _start_s3(self) -> str:
        from moto.server import ThreadedMotoServer

        from churn_local.s3_faults import S3FaultServer

        s = self.settings
        # ThreadedMotoServer binds inside its thread and would wait forever on a taken port: check first.
        check_port_free(s.host, s.s3_port, "local S3", "--s3-port")
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        logging.getLogger("botocore").setLevel(logging.WARNING)
        moto_port = _free_port(s.host)
        moto = ThreadedMotoServer(ip_address=s.host, port=moto_port, verbose=False)
        moto.start()
        self._stops.append(moto.stop)
        self._moto_url = _url((s.host, moto_port))
        front = self._bind(
            lambda: S3FaultServer((s.host, s.s3_port), (s.host, moto_port), s.s3_fault, s.idle_timeout_s),
            s.s3_port,
            "local S3",
            "--s3-port",
        )
        self._stops.append(front.server_close)
        self._serve(front, "s3-faults")
        return str(front.url)

    def _upload_transformation(self) -> None:
        import boto3

        # Straight to moto: the S3 faults are for the function, not for setting the stack up.
        s3 = boto3.client("s3", endpoint_url=self._moto_url, region_name=LOCAL_REGION)
        s3.create_bucket(Bucket=self.settings.bucket)
        s3.put_object(
            Bucket=self.settings.bucket,
            Key=TRANSFORMATION_FILE,
            Body=(self.settings.artifacts / TRANSFORMATION_FILE).read_bytes(),
        )

    def stop(self) -> None:
        """Stop everything that started, newest first; each step runs even if another fails."""
        while self._stops:
            step = self._stops.pop()
            try:
                step()
            except Exception:
                log.exception("failed while stopping the local stack")


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _url(address: tuple[Any, ...]) -> str:
    host, port = str(address[0]), int(address[1])
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def curl_command(api_url: str, payload: Mapping[str, Any], api_key: str | None = None) -> str:
    """Return a ready-to-paste curl that posts the payload; JSON's \\u0027 keeps "Int'l Plan" inside '...'."""
    body = json.dumps(payload).replace("'", "\\u0027")
    key = f" -H 'x-api-key: {api_key}'" if api_key else ""
    return f"curl -s -X POST {api_url}/predict -H 'Content-Type: application/json'{key} -d '{body}'"


def ready_line(stack: LocalStack) -> str:
    """Return the line that says the stack answers, with every real URL."""
    return f"{READY_PREFIX} api={stack.api_url} endpoint={stack.endpoint_url} s3={stack.s3_url}"


def banner(stack: LocalStack) -> list[str]:
    """Return what a person needs to start using the stack, as the local API describes itself."""
    s = stack.settings
    payload = json.loads(REFERENCE_PAYLOAD.read_text(encoding="utf-8"))
    served = stack.api.describe()
    lines = ["", "  API (like API Gateway, routes from the template)"]
    for method, resource, keyed in sorted(served["methods"], key=lambda m: (m[1], m[0])):
        note = "  (x-api-key required)" if keyed else ""
        lines.append(f"    {method:<5} {stack.api_url}{resource}{note}")
    limits = ", ".join(f"{rate:g} requests/s, burst {burst}, per method" for rate, burst in served["throttling"])
    timeouts = ", ".join(f"{t:g} s" for t in served["function_timeout_s"].values())
    lines += [
        "",
        f"  Demo page                {stack.api_url}/",
        f"  Swagger UI               {stack.api_url}/swagger" if s.swagger else "  Swagger UI               off",
        f"  CORS allowed origin      {', '.join(served['cors_origins']) or 'none'}",
        "  API key                  "
        + ("required: header x-api-key" if served["api_key_required"] else "not required"),
        f"  Throttling               {limits or 'off'}",
        f"  Timeouts                 function {timeouts}, integration {served['integration_timeout_s']:g} s",
        f"  SageMaker endpoint       {stack.endpoint_url}/endpoints/{s.endpoint_name}/invocations",
        f"  S3 (moto)                {stack.s3_url}  s3://{s.bucket}/{TRANSFORMATION_FILE}",
        f"  Faults                   endpoint {s.endpoint_fault.name}, S3 {s.s3_fault.name}"
        f"  (switch: PUT {stack.endpoint_url}{faults.CONTROL_PATH}, {stack.s3_url}{faults.CONTROL_PATH})",
        f"  Threshold                {s.threshold}",
        "",
        "  Try it with the reference customer:",
        "",
        f"    {curl_command(stack.api_url, payload, s.api_key)}",
        "",
        "  Ctrl-C stops everything.",
        "",
    ]
    return lines


def parse_args(argv: Sequence[str] | None = None) -> StackSettings:
    """Read the command line into settings."""
    d = StackSettings()
    parser = argparse.ArgumentParser(prog="python -m churn_local.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=d.artifacts, help="trained artifacts (default: %(default)s)")
    parser.add_argument("--host", default=d.host, help="interface to listen on (default: %(default)s)")
    parser.add_argument("--api-port", type=_port, default=d.api_port, help="local API port, 0 = any free one")
    parser.add_argument("--endpoint-port", type=_port, default=d.endpoint_port, help="SageMaker endpoint port")
    parser.add_argument("--s3-port", type=_port, default=d.s3_port, help="local S3 (moto) port")
    parser.add_argument("--endpoint-name", default=d.endpoint_name, help="endpoint name (default: %(default)s)")
    parser.add_argument("--bucket", default=d.bucket, help="bucket for the transformation (default: %(default)s)")
    parser.add_argument("--threshold", type=float, default=d.threshold, help="decision threshold (default: 0.39)")
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
        help="override a template parameter, e.g. --parameter ThrottleRateLimit=5 (repeatable)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        type=_assignment,
        help="override a function environment variable, e.g. --env POWERTOOLS_LOG_LEVEL=DEBUG (repeatable)",
    )
    _add_fault_arguments(parser, d)
    args = parser.parse_args(argv)
    if not 0.0 <= args.threshold <= 1.0:
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
    group.add_argument(
        "--function-timeout",
        type=_positive,
        metavar="SECONDS",
        help="the function's Timeout instead of the template's (past it: 502, like API Gateway)",
    )
    group.add_argument(
        "--integration-timeout",
        type=_positive,
        default=d.integration_timeout_s,
        metavar="SECONDS",
        help="API Gateway's integration timeout (default: %(default)s; past it: 504 Endpoint request timed out)",
    )
    group.add_argument(
        "--idle-timeout",
        type=_positive,
        default=d.idle_timeout_s,
        metavar="SECONDS",
        help="close connections idle or half-sent for this long (default: %(default)s)",
    )


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


if __name__ == "__main__":
    sys.exit(main())
