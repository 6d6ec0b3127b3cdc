"""A local SageMaker endpoint: InvokeEndpoint and DescribeEndpoint in front of the built-in XGBoost container.

What the handler calls, answered the way real services answer a real boto3 client (found through
``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` / ``AWS_ENDPOINT_URL_SAGEMAKER``):
- ``POST /endpoints/{name}/invocations``: SageMaker Runtime ``InvokeEndpoint`` (botocore model ``sagemaker-runtime``
  2017-05-13, rest-json: the error code in ``x-amzn-ErrorType``, members in a JSON body). An unknown name is 400
  ``ValidationError``; a container answer other than 2xx is 424 ``ModelError`` with ``OriginalStatusCode`` and
  ``OriginalMessage`` (message as quoted in aws/amazon-sagemaker-examples issue #1881).
- ``POST /`` with ``X-Amz-Target: SageMaker.DescribeEndpoint``: the control plane (botocore model ``sagemaker``,
  JSON 1.1): ``InService`` for the served name, else 400 ``ValidationException`` ``Could not find endpoint "<arn>".``
- ``GET /ping``, ``POST /invocations``: the container itself, as churn_local.services.xgboost_container answers it.
- ``GET``/``PUT /_local/fault``: local only, the fault injection of churn_local.services.faults.
Bodies are never logged: they describe customers.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import signal
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import unquote, urlsplit

from churn_local.constants import LOCAL_ACCOUNT_ID, LOCAL_REGION, MODEL_ARCHIVE
from churn_local.services import faults
from churn_local.services.http_server import DEFAULT_IDLE_TIMEOUT_S, TimedRequestHandler
from churn_local.services.xgboost_container import CSV, JSON, ContainerResponse, XGBoostContainer, load_model_archive

logger = logging.getLogger(__name__)

PRODUCTION_VARIANT = "AllTraffic"
# InvokeEndpoint's Body shape: {"max": 6291456} in the botocore service model.
MAX_BODY_BYTES = 6_291_456
JSON_11 = "application/x-amz-json-1.1"
_ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_INVOKE_PATH = re.compile(r"/endpoints/(?P<name>[^/]*)/invocations")
_CREDENTIAL_REGION = re.compile(r"Credential=[^/,\s]+/\d{8}/(?P<region>[a-z0-9-]+)/")


@dataclass
class ServiceError:
    """One error of the SageMaker APIs: HTTP status, error code, modelled members."""

    status: int
    code: str
    members: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, status: int, code: str, message: str) -> ServiceError:
        """Return an error whose only member is its message."""
        return cls(status, code, {"Message": message})


def model_error(status: int, original: str, endpoint: str, region: str) -> ServiceError:
    """Wrap a failed container answer the way SageMaker does: ``ModelError`` (HTTP 424)."""
    side = "server" if status >= 500 else "client"
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    console = f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group={group}"
    message = (
        f'Received {side} error ({status}) from primary with message "{original}". '
        f"See {console} in account {LOCAL_ACCOUNT_ID} for more information."
    )
    members = {"Message": message, "OriginalStatusCode": status, "OriginalMessage": original}
    return ServiceError(
        HTTPStatus.FAILED_DEPENDENCY,
        "ModelError",
        {**members, "LogStreamArn": f"arn:aws:logs:{region}:{LOCAL_ACCOUNT_ID}:log-group:{group}"},
    )


def injected(fault: faults.Fault, rows: int, name: str, region: str) -> ServiceError | ContainerResponse | None:
    """Return what InvokeEndpoint answers under a fault, or None to answer normally."""
    if fault.name in (faults.NONE, "slow"):
        return None
    errors = {
        "throttle": ServiceError.of(400, "ThrottlingException", "Rate exceeded"),
        "not-ready": ServiceError.of(429, "ModelNotReadyException", f"Model for endpoint {name} is not ready"),
        "model-error": model_error(500, "Internal Server Error", name, region),
        "unavailable": ServiceError.of(503, "ServiceUnavailable", "Service is unavailable"),
        "internal": ServiceError.of(500, "InternalFailure", "An internal failure occurred"),
    }
    if fault.name in errors:
        return errors[fault.name]
    garbage = {
        "garbage-bytes": ContainerResponse(200, b"\xff\xfe\x80 not utf-8", CSV),
        "garbage-booleans": ContainerResponse(200, json.dumps([True] * rows).encode(), JSON),
        "garbage-count": ContainerResponse(200, ",".join(["0.5"] * max(0, rows - 1)).encode(), CSV),
    }
    return garbage.get(fault.name)


class EndpointServer(faults.FaultInjectingServer):
    """Holds one loaded model, the endpoint name it answers to, and its fault switch."""

    def __init__(
        self,
        address: tuple[str, int],
        container: XGBoostContainer,
        endpoint_name: str,
        fault: faults.Fault = faults.NO_FAULT,
        idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
    ) -> None:
        self.container = container
        self.endpoint_name = endpoint_name
        self.created_at = time.time()
        super().__init__(address, EndpointHandler, faults.ENDPOINT_FAULTS, fault, idle_timeout_s)


class EndpointHandler(TimedRequestHandler):
    """Route one request to the runtime API, the control plane, the container contract or the fault switch."""

    server: EndpointServer
    server_version = "churn-local-sagemaker/1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        """Serve /ping and the fault switch's state."""
        path = urlsplit(self.path).path
        if path == "/ping":  # 200 once the model is loaded, which happens before the server listens
            self._send(HTTPStatus.OK, b"", "text/plain; charset=utf-8")
        elif path == faults.CONTROL_PATH:
            self._send(*self.server.control("GET", b""), JSON)
        else:
            self._send_error(ServiceError.of(404, "UnknownOperationException", f"No operation at GET {path}"))

    def do_PUT(self) -> None:  # noqa: N802
        """Switch the fault."""
        body = self._read_body()
        if body is not None:
            self._send(*self.server.control("PUT", body), JSON)

    def do_POST(self) -> None:  # noqa: N802
        """Serve InvokeEndpoint, DescribeEndpoint and the container's /invocations."""
        path = urlsplit(self.path).path
        body = self._read_body()
        if body is None:
            return
        target = self.headers.get("X-Amz-Target")
        match = _INVOKE_PATH.fullmatch(path)
        if path == "/" and target is not None:
            self._describe(target, body)
        elif path == "/invocations":
            reply = self.server.container.invocations(
                body, self.headers.get("Content-Type"), self.headers.get("Accept")
            )
            self._send(reply.status, reply.body, reply.content_type)
        elif match is not None:
            self._invoke_endpoint(unquote(match["name"]), body)
        else:
            self._send_error(ServiceError.of(404, "UnknownOperationException", f"No operation at POST {path}"))

    def _invoke_endpoint(self, name: str, body: bytes) -> None:
        fault = self.server.faults.called()
        if fault.name == "hang":
            self.server.faults.hang()
            self.close_connection = True
            return
        if fault.name == "slow":
            time.sleep(fault.delay_s)
        if name != self.server.endpoint_name:
            self._send_error(
                ServiceError.of(400, "ValidationError", f"Endpoint {name} of account {LOCAL_ACCOUNT_ID} not found.")
            )
            return
        reply = injected(fault, body.strip().count(b"\n") + 1, name, self._region())
        if reply is None:
            reply = self.server.container.invocations(
                body, self.headers.get("Content-Type"), self.headers.get("Accept")
            )
        if isinstance(reply, ServiceError):
            self._send_error(reply)
        elif not 200 <= reply.status < 300:
            self._send_error(model_error(reply.status, reply.body.decode("utf-8", "replace"), name, self._region()))
        else:
            # Any 2xx is relayed as 200 with the container's body (an empty Body's 204 arrives as an empty 200).
            self._send(
                HTTPStatus.OK, reply.body, reply.content_type, {"x-Amzn-Invoked-Production-Variant": PRODUCTION_VARIANT}
            )

    def _describe(self, target: str, body: bytes) -> None:
        if target != "SageMaker.DescribeEndpoint":
            self._send_json_error(ServiceError.of(400, "UnknownOperationException", f"{target} is not served"))
            return
        request = json.loads(body or b"{}")
        name = str(request.get("EndpointName")) if isinstance(request, dict) else ""
        # SageMaker writes endpoint names lower-cased into their ARNs.
        arn = f"arn:aws:sagemaker:{self._region()}:{LOCAL_ACCOUNT_ID}:endpoint/{name.lower()}"
        if name != self.server.endpoint_name:
            self._send_json_error(ServiceError.of(400, "ValidationException", f'Could not find endpoint "{arn}".'))
            return
        variant = {"VariantName": PRODUCTION_VARIANT, "CurrentWeight": 1.0, "DesiredWeight": 1.0}
        described = {
            "EndpointName": name,
            "EndpointArn": arn,
            "EndpointConfigName": name,
            "ProductionVariants": [{**variant, "CurrentInstanceCount": 1, "DesiredInstanceCount": 1}],
            "EndpointStatus": "InService",
            "CreationTime": self.server.created_at,  # JSON 1.1 timestamps are epoch seconds
            "LastModifiedTime": self.server.created_at,
        }
        self._send(HTTPStatus.OK, json.dumps(described).encode(), JSON_11)

    def _region(self) -> str:
        # SigV4 names the region in the credential scope of the Authorization header.
        found = _CREDENTIAL_REGION.search(self.headers.get("Authorization", ""))
        return found["region"] if found else LOCAL_REGION

    def _read_body(self) -> bytes | None:
        try:
            length = self.content_length() or 0
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES or "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            # botocore always sends a Content-Length; InvokeEndpoint's Body is at most 6 MiB.
            self.close_connection = True
            message = f"Member must have length less than or equal to {MAX_BODY_BYTES} and a Content-Length"
            self._send_error(
                ServiceError.of(
                    400,
                    "ValidationError",
                    f"1 validation error detected: Value at 'body' failed to satisfy constraint: {message}",
                )
            )
            return None
        return self.rfile.read(length) if length else b""

    def _send_json_error(self, error: ServiceError) -> None:
        self._send(error.status, json.dumps({"__type": error.code, **error.members}).encode(), JSON_11)

    def _send_error(self, error: ServiceError) -> None:
        self._send(error.status, json.dumps(error.members).encode(), JSON, {"x-amzn-ErrorType": error.code})

    def _send(self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if status != HTTPStatus.NO_CONTENT:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if status != HTTPStatus.NO_CONTENT:
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log the method, path and status only: bodies and their values never reach the log."""
        logger.info("%s %s -> %s", self.command, urlsplit(self.path).path, code)


def make_server(
    model_archive: Path,
    endpoint_name: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    fault: faults.Fault = faults.NO_FAULT,
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
) -> EndpointServer:
    """Load the model once and bind the endpoint (port 0 picks a free port); the caller runs serve_forever."""
    if not _ENDPOINT_NAME.fullmatch(endpoint_name):
        raise ValueError(f"{endpoint_name!r} is not a valid SageMaker endpoint name")
    container = XGBoostContainer(load_model_archive(Path(model_archive)))
    return EndpointServer((host, port), container, endpoint_name, fault, idle_timeout_s)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Serve model.tar.gz as a local SageMaker endpoint until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m churn_local.services.sagemaker_endpoint", description=main.__doc__)
    parser.add_argument("--model", type=Path, default=Path("artifacts") / MODEL_ARCHIVE, help="default: %(default)s")
    parser.add_argument("--endpoint-name", default="churn-xgboost", help="default: %(default)s")
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument("--port", type=int, default=8080, help="default: %(default)s (0 picks a free port)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    server = make_server(args.model, args.endpoint_name, args.host, args.port)
    signal.signal(signal.SIGTERM, _stop)
    print(
        f"SageMaker endpoint {args.endpoint_name} ({server.container.n_features} features) at {server.url}", flush=True
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
