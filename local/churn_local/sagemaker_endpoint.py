"""A local SageMaker endpoint: InvokeEndpoint and DescribeEndpoint in front of the built-in XGBoost container.

What the handler calls, answered the way real services answer a real boto3 client (found through
``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` / ``AWS_ENDPOINT_URL_SAGEMAKER``):
- ``POST /endpoints/{name}/invocations``: SageMaker Runtime ``InvokeEndpoint`` (botocore model ``sagemaker-runtime``
  2017-05-13, rest-json: the error code in ``x-amzn-ErrorType``, members in a JSON body). An unknown name is 400
  ``ValidationError``; a container answer other than 2xx is 424 ``ModelError`` with ``OriginalStatusCode`` and
  ``OriginalMessage`` (message as quoted in aws/amazon-sagemaker-examples issue #1881).
- ``POST /`` with ``X-Amz-Target: SageMaker.DescribeEndpoint``: the control plane (botocore model ``sagemaker``,
  JSON 1.1): ``InService`` for the served name, else 400 ``ValidationException`` ``Could not find endpoint "<arn>".``
- ``GET /ping``, ``POST /invocations``: the container itself (aws/sagemaker-xgboost-container
  ``algorithm_mode/serve.py``, ``serve_utils.py``): empty body 204; a Content-Type other than text/csv 415; CSV that
  does not parse 415; a feature count other than the model's 400 (stricter than the container, which scores a short
  row of a ``save_model`` file as NaN: here it fails loudly); else 200, one CSV line of float32 scores (or
  ``{"predictions": [{"score": ...}]}`` for ``Accept: application/json``; any other Accept is 406).
- ``GET``/``PUT /_local/fault``: local only, the fault injection of churn_local.faults.
Bodies are never logged: they describe customers.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import pickle
import re
import signal
import tarfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import xgboost as xgb

from churn_local import faults
from churn_local.constants import LOCAL_ACCOUNT_ID, LOCAL_REGION, MODEL_ARCHIVE, MODEL_MEMBER
from churn_local.http_server import DEFAULT_IDLE_TIMEOUT_S, TimedRequestHandler

logger = logging.getLogger(__name__)

PRODUCTION_VARIANT = "AllTraffic"
# InvokeEndpoint's Body shape: {"max": 6291456} in the botocore service model.
MAX_BODY_BYTES = 6_291_456
JSON_11 = "application/x-amz-json-1.1"
CSV = "text/csv"
JSON = "application/json"
_ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_INVOKE_PATH = re.compile(r"/endpoints/(?P<name>[^/]*)/invocations")
_CREDENTIAL_REGION = re.compile(r"Credential=[^/,\s]+/\d{8}/(?P<region>[a-z0-9-]+)/")


@dataclass(frozen=True)
class ContainerResponse:
    """What the model container answers to one ``/invocations`` request."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def load_model_archive(path: Path) -> xgb.Booster:
    """Load ``xgboost-model`` from a model.tar.gz the way the container does: pickle first, then load_model."""
    with tarfile.open(path, mode="r:gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        if [m.name for m in members] != [MODEL_MEMBER]:
            # /opt/ml/model gets every file of the archive and the container averages them all as an ensemble.
            raise ValueError(f"{path} must hold exactly one file, {MODEL_MEMBER}; found {[m.name for m in members]}")
        extracted = tar.extractfile(members[0])
        assert extracted is not None  # a regular file
        with extracted:
            raw = extracted.read()
    try:
        booster = pickle.loads(raw)  # noqa: S301 (the operator's own artifact, trusted like this code)
        if not isinstance(booster, xgb.Booster):
            raise TypeError(f"unpickled a {type(booster).__name__}, not a Booster")
    except Exception:
        booster = xgb.Booster()
        booster.load_model(bytearray(raw))
    booster.set_param("nthread", "1")
    return booster


class XGBoostContainer:
    """The built-in XGBoost container's ``/invocations`` behaviour around one loaded booster."""

    def __init__(self, booster: xgb.Booster) -> None:
        self.booster = booster
        self.n_features = booster.num_features()
        # The container predicts one request at a time per worker; one lock gives the threaded server the same.
        self._lock = threading.Lock()

    def invocations(self, body: bytes, content_type: str | None, accept: str | None) -> ContainerResponse:
        """Answer one ``POST /invocations`` with the container's status codes and body formats."""
        if not body:
            return ContainerResponse(HTTPStatus.NO_CONTENT)
        media = _media_type(content_type) or CSV
        if media not in ("csv", CSV):
            message = f"Content-type {media} not supported. Supported content-type is text/csv, text/libsvm"
            return ContainerResponse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, message.encode())
        accepted = _media_type(accept)
        accepted = CSV if accepted in ("", "*/*") else accepted
        if accepted not in (CSV, JSON):
            message = f"Accept type {accepted} is not supported. Please use supported accept types: {[CSV, JSON]}."
            return ContainerResponse(HTTPStatus.NOT_ACCEPTABLE, message.encode())
        try:
            rows = parse_csv(body)
        except Exception as exc:
            message = (
                f"Loading csv data failed with Exception, please ensure data is in csv format:\n {type(exc)}\n {exc}"
            )
            return ContainerResponse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, message.encode())
        if rows.shape[1] != self.n_features:
            message = (
                "Unable to evaluate payload provided: Feature size of csv inference data "
                f"{rows.shape[1]} is not consistent with feature size of trained model {self.n_features}."
            )
            return ContainerResponse(HTTPStatus.BAD_REQUEST, message.encode())
        with self._lock:
            # inplace_predict skips building a DMatrix (most of the cost of a small request); its scores equal
            # predict(DMatrix(rows)) exactly: both read the features as float32 and treat NaN as missing.
            scores = np.asarray(self.booster.inplace_predict(rows, validate_features=False)).tolist()
        if accepted == JSON:
            return ContainerResponse(
                HTTPStatus.OK, json.dumps({"predictions": [{"score": s} for s in scores]}).encode(), JSON
            )
        return ContainerResponse(HTTPStatus.OK, ",".join(map(str, scores)).encode(), "text/csv; charset=utf-8")


def parse_csv(body: bytes) -> np.ndarray:
    """Decode a ``text/csv`` payload as the container's ``encoder.csv_to_dmatrix`` does: one row per line.

    numpy's C reader takes the common case (every cell a number); what it refuses or reads differently (an empty
    cell, which the container reads as NaN; a blank line, which numpy skips and the container refuses) takes the
    container's own path, so the answers and errors stay the container's.
    """
    text = body.strip()
    try:
        rows = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.float64, comments=None, ndmin=2)
        if rows.shape[0] == text.count(b"\n") + 1:
            return rows
    except ValueError:
        pass
    cells = [["nan" if cell == "" else cell for cell in line.split(",")] for line in text.decode("utf-8").split("\n")]
    return np.array(cells).astype(np.float64)


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
    parser = argparse.ArgumentParser(prog="python -m churn_local.sagemaker_endpoint", description=main.__doc__)
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
