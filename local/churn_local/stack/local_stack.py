"""The local stack: the SageMaker endpoint, S3 and the API, started in order and stopped in reverse.

What `python -m churn_local.stack.serve` runs; the command line, the banner and the ready line are in serve.py.
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from churn_local.constants import (
    ARTIFACT_FILES,
    DEFAULT_ARTIFACTS,
    INTEGRATION_TIMEOUT_S,
    LOCAL_REGION,
    MODEL_ARCHIVE,
    TEMPLATE,
)
from churn_local.release import pins, publish
from churn_local.services import faults
from churn_local.services.http_server import DEFAULT_IDLE_TIMEOUT_S, free_port

log = logging.getLogger(__name__)
# The variable `--api-key` falls back to, so a key need not appear in the shell history or the process list.
API_KEY_VARIABLE = "CHURN_API_KEY"
# What `make publish` pins and the stack passes on as a deploy would. Not ModelDataUrl: the local endpoint serves
# model.tar.gz from the artifacts folder, where a deploy would host the published one in SageMaker.
PINNED_PARAMETERS = (
    "TransformKey",
    "TransformSha256",
    "FeatureSignature",
    "ModelVersion",
    "ModelThreshold",
    "DriftBaselineKey",
    "DriftBaselineSha256",
)


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
    # An explicit override of the cut-off (the template's Threshold); None applies the one the model was trained with.
    threshold: float | None = None
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
    integration_timeout_s: float = INTEGRATION_TIMEOUT_S
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    # Warm execution environments of the function: 1 runs the handler in this process; more run that many
    # processes side by side (Lambda's concurrency; SAM CLI's warm containers), for throughput.
    environments: int = 1

    def parameter_overrides(self, published: Mapping[str, str] | None = None) -> dict[str, str]:
        """Return the template parameters this run sets: the published pins (a --parameter wins over them), then the
        local resources and the front-end switches."""
        overrides = {name: (published or {})[name] for name in PINNED_PARAMETERS if name in (published or {})}
        overrides.update(self.parameters)
        overrides.update(
            {
                "EndpointName": self.endpoint_name,
                "TransformBucket": self.bucket,
                "EnableSwagger": "true" if self.swagger else "false",
            }
        )
        if self.threshold is not None:
            overrides["Threshold"] = str(self.threshold)
        if self.cors_origin is not None:
            overrides["CorsAllowOrigin"] = self.cors_origin
        if self.api_key is not None:
            overrides["RequireApiKey"] = "true"
        return overrides

    def served_parameters(self, artifacts: pins.Artifacts) -> dict[str, str]:
        """Return the parameters `make serve` deploys the artifacts with (pins.read_artifacts checked them): pinned
        at the content address `make publish` uploads them under, then parameter_overrides."""
        return self.parameter_overrides(pins.parameters_for(artifacts, self.bucket, publish.DEFAULT_PREFIX))


def needs_training(artifacts: Path) -> bool:
    """Tell whether any artifact the stack serves is missing."""
    return not all((artifacts / name).is_file() for name in ARTIFACT_FILES)


def ensure_artifacts(settings: StackSettings, say: Callable[[str], None]) -> None:
    """Train into the artifacts folder when asked to or when something is missing, saying how long it took."""
    if not settings.retrain and not needs_training(settings.artifacts):
        return
    reason = "retraining as asked" if settings.retrain else f"no trained model in {settings.artifacts}"
    say(f"{reason}: training on the bundled data set (a few seconds)...")
    from churn_local.training import train  # noqa: PLC0415 - xgboost and matplotlib load only to train

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
        # The template parameters the stack was started with (the published pins included).
        self.overrides: dict[str, str] = {}

    def start(self) -> None:
        """Train if needed, then start the endpoint, S3 and the API; on any failure stop what started."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        from churn_local import apigw  # noqa: PLC0415 - loaded on start, not by `make score`
        from churn_local.template.provider import Application, TemplateError  # noqa: PLC0415 - loaded on start, not by `make score`

        s = self.settings
        check_port_free(s.host, s.api_port, "local API", "--api-port")
        check_port_free(s.host, s.endpoint_port, "local SageMaker endpoint", "--endpoint-port")
        check_port_free(s.host, s.s3_port, "local S3", "--s3-port")
        ensure_artifacts(s, self.say)
        # Checked as `make publish` checks them before uploading: a set the function would refuse never starts.
        try:
            artifacts = pins.read_artifacts(s.artifacts)
        except pins.PublishError as exc:
            raise StartupError(f"refusing to serve {s.artifacts}: {exc} (--retrain trains anew)") from exc
        overrides = s.served_parameters(artifacts)
        self.overrides = overrides
        if overrides.get("RequireApiKey") == "true" and not s.api_key:
            raise StartupError(f"RequireApiKey=true needs a key: pass --api-key KEY or set {API_KEY_VARIABLE}")
        # samtranslator warns about feature toggles it has no configuration for, on every expansion.
        logging.getLogger("samtranslator").setLevel(logging.ERROR)
        try:
            # The template maps its parameters onto the function's environment and the API's settings, as `sam
            # local start-api --parameter-overrides` would.
            application = Application.from_template(s.template, overrides, region=LOCAL_REGION)
        except (OSError, TemplateError) as exc:
            raise StartupError(f"cannot serve {s.template}: {exc}") from exc
        api = apigw.LocalApi(
            application,
            region=LOCAL_REGION,
            api_keys=[s.api_key] if s.api_key else [],
            throttle=s.throttle,
            function_timeout_s=s.function_timeout_s,
            integration_timeout_s=s.integration_timeout_s,
            environments=s.environments,
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
        self._publish(artifacts)

        # The handler module reads its settings at import time, so its environment is in place first.
        self._stops.append(api.close)
        try:
            api.load(dict(s.env))
        except Exception as exc:
            raise StartupError(f"the handler failed to load: {type(exc).__name__}: {exc}") from exc
        # Everything loaded so far (moto, the expanded template, botocore's models, the handler's module) lives as long
        # as the stack: out of the collector's reach, a request's garbage collection walks only what requests make,
        # as in a Lambda environment that holds the function alone (a full collection took milliseconds a batch).
        gc.collect()
        gc.freeze()
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
        from churn_local.services import sagemaker_endpoint  # noqa: PLC0415 - loaded on start, not by `make score`

        s = self.settings
        refused = faults.ENDPOINT_FAULTS[s.endpoint_fault.name].behaviour == faults.REFUSE  # "down"
        try:
            server = self._bind(
                lambda: sagemaker_endpoint.make_server(
                    s.artifacts / MODEL_ARCHIVE,
                    s.endpoint_name,
                    host=s.host,
                    port=s.endpoint_port,
                    fault=faults.NO_FAULT if refused else s.endpoint_fault,
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
        if refused:
            # A socket bound but not listening: every connection is refused, and no other program takes the port.
            closed = socket.socket(server.address_family, socket.SOCK_STREAM)
            closed.bind((s.host, 0))
            self._stops.append(closed.close)
            self.runtime_url = _url(closed.getsockname())
        return str(server.url)

    def _start_s3(self) -> str:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 - loaded on start, not by `make score`

        from churn_local.services.s3_server import S3Server  # noqa: PLC0415 - loaded on start, not by `make score`

        s = self.settings
        # ThreadedMotoServer binds inside its thread and would wait forever on a taken port: check first.
        check_port_free(s.host, s.s3_port, "local S3", "--s3-port")
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        logging.getLogger("botocore").setLevel(logging.WARNING)
        moto_port = free_port(s.host)
        moto = ThreadedMotoServer(ip_address=s.host, port=moto_port, verbose=False)
        moto.start()
        self._stops.append(moto.stop)
        self._moto_url = _url((s.host, moto_port))
        front = self._bind(
            lambda: S3Server((s.host, s.s3_port), (s.host, moto_port), s.s3_fault, s.idle_timeout_s),
            s.s3_port,
            "local S3",
            "--s3-port",
        )
        self._stops.append(front.server_close)
        self._serve(front, "s3-faults")
        return str(front.url)

    def _publish(self, artifacts: pins.Artifacts) -> None:
        import boto3  # noqa: PLC0415 - loaded on start, not by `make score`

        # Straight to moto: the S3 faults are for the function, not for setting the stack up.
        s3 = boto3.client("s3", endpoint_url=self._moto_url, region_name=LOCAL_REGION, config=publish.S3_CONFIG)
        s3.create_bucket(Bucket=self.settings.bucket)
        try:
            publish.publish(artifacts, s3, self.settings.bucket, publish.DEFAULT_PREFIX)
        except pins.PublishError as exc:
            raise StartupError(f"cannot publish to the local S3: {exc}") from exc

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
