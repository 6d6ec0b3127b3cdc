"""Run churn-api on this machine: a local SageMaker endpoint, local S3 and the local API, no AWS and no Docker.

`python -m churn_local.serve` trains first if the artifacts are missing, then serves the real handler behind a
local API Gateway at http://127.0.0.1:3000 (POST /predict, demo page at /, Swagger UI at /swagger) until Ctrl-C
or SIGTERM. Template parameters shape the local API as they shape the deployed one: --cors-origin sets
CorsAllowOrigin, --api-key sets RequireApiKey, --no-swagger sets EnableSwagger=false.
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

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = PROJECT_ROOT / "template.yaml"
REFERENCE_PAYLOAD = PROJECT_ROOT / "events" / "direct-reference.json"
TRANSFORMATION_FILE = "transformation.sav"
MODEL_ARCHIVE = "model.tar.gz"
METADATA_FILE = "metadata.json"
ARTIFACT_FILES = (TRANSFORMATION_FILE, MODEL_ARCHIVE, METADATA_FILE)
REGION = "us-east-1"
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
class Settings:
    """What to serve and where."""

    artifacts: Path = PROJECT_ROOT / "artifacts"
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


def ensure_artifacts(settings: Settings, say: Callable[[str], None]) -> None:
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


def local_aws_environment(s3_url: str, endpoint_url: str) -> dict[str, str]:
    """Return the variables that point the handler's unchanged boto3 code at the local services."""
    return {
        # boto3's standard per-service endpoint variables; the global one catches every other service, so
        # nothing the handler calls can leave this machine.
        "AWS_ENDPOINT_URL_S3": s3_url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint_url,
        # The control plane (DescribeEndpoint, for GET /health/ready) is served by the same local endpoint.
        "AWS_ENDPOINT_URL_SAGEMAKER": endpoint_url,
        "AWS_ENDPOINT_URL": s3_url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
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

    def __init__(self, settings: Settings, say: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.say = say
        self._stops: list[Callable[[], None]] = []
        self.api_url = self.endpoint_url = self.s3_url = ""
        self.application: Any = None

    def start(self) -> None:
        """Train if needed, then start the endpoint, S3 and the API; on any failure stop what started."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        from churn_local import api_gateway

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
            application = api_gateway.Application.from_template(
                s.template, parameter_overrides=overrides, region=REGION
            )
        except (OSError, api_gateway.TemplateError) as exc:
            raise StartupError(f"cannot serve {s.template}: {exc}") from exc
        self.application = application
        keys = [s.api_key] if s.api_key else []
        api = api_gateway.LocalApi(application, region=REGION, api_keys=keys, throttle=s.throttle)
        api_server = self._bind(
            lambda: api_gateway.make_server(api, s.host, s.api_port), s.api_port, "local API", "--api-port"
        )
        self._stops.append(api_server.server_close)
        self.api_url = _url(api_server.server_address)

        self.endpoint_url = self._start_endpoint()
        self.s3_url = self._start_s3()
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", None)
        os.environ.update(local_aws_environment(self.s3_url, self.endpoint_url))
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
                    s.artifacts / MODEL_ARCHIVE, s.endpoint_name, host=s.host, port=s.endpoint_port
                ),
                s.endpoint_port,
                "local SageMaker endpoint",
                "--endpoint-port",
            )
        except ValueError as exc:
            raise StartupError(str(exc)) from exc
        self._stops.append(server.server_close)
        self._serve(server, "sagemaker-endpoint")
        return _url(server.server_address)

    def _start_s3(self) -> str:
        from moto.server import ThreadedMotoServer

        s = self.settings
        # ThreadedMotoServer binds inside its thread and would wait forever on a taken port: check first.
        check_port_free(s.host, s.s3_port, "local S3", "--s3-port")
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        logging.getLogger("botocore").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address=s.host, port=s.s3_port, verbose=False)
        server.start()
        self._stops.append(server.stop)
        host, port = server.get_host_and_port()
        return _url((host, port))

    def _upload_transformation(self) -> None:
        import boto3

        s3 = boto3.client("s3", endpoint_url=self.s3_url, region_name=REGION)
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
    """Return what a person needs to start using the stack."""
    from churn_local.api_gateway import mapped_value

    s = stack.settings
    payload = json.loads(REFERENCE_PAYLOAD.read_text(encoding="utf-8"))
    app = stack.application
    lines = ["", "  API (like API Gateway, routes from the template)"]
    for route in sorted((r for r in app.routes if not r.cors_preflight), key=lambda r: (r.resource, r.method)):
        api = app.apis[route.api]
        note = "  (x-api-key required)" if route.requires_api_key(api) else ""
        lines.append(f"    {route.method:<5} {stack.api_url}{route.resource}{note}")
    origins = sorted({mapped_value(a.cors["AllowOrigin"], None) for a in app.apis.values() if a.cors})
    limits = sorted(
        {
            limit
            for r in app.routes
            if (limit := app.apis[r.api].throttle(r.resource, "GET" if r.method == "ANY" else r.method)) is not None
        }
    )
    lines += [
        "",
        f"  Demo page                {stack.api_url}/",
        f"  Swagger UI               {stack.api_url}/swagger" if s.swagger else "  Swagger UI               off",
        f"  CORS allowed origin      {', '.join(o for o in origins if o) or 'none'}",
        "  API key                  " + ("required: header x-api-key" if s.api_key else "not required"),
        "  Throttling               "
        + (
            ", ".join(f"{rate:g} requests/s, burst {burst}, per method" for rate, burst in limits)
            if s.throttle and limits
            else "off"
        ),
        f"  SageMaker endpoint       {stack.endpoint_url}/endpoints/{s.endpoint_name}/invocations",
        f"  S3 (moto)                {stack.s3_url}  s3://{s.bucket}/{TRANSFORMATION_FILE}",
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


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    """Read the command line into settings."""
    d = Settings()
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
    args = parser.parse_args(argv)
    if not 0.0 <= args.threshold <= 1.0:
        parser.error("--threshold must be between 0 and 1")
    if args.api_key is not None and not api_key_is_valid(args.api_key):
        parser.error(
            f"--api-key (or ${API_KEY_VARIABLE}) must be {API_KEY_LENGTH[0]} to {API_KEY_LENGTH[1]} visible characters"
        )
    return Settings(
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
    )


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
