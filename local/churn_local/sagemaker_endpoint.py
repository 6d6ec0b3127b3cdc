"""A local SageMaker endpoint: the runtime's InvokeEndpoint REST call in front of the XGBoost container contract.

Usage: ``python -m churn_local.sagemaker_endpoint --model artifacts/model.tar.gz --endpoint-name churn-xgboost
[--host 127.0.0.1] [--port 8080]``, then point any AWS SDK at it with
``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://127.0.0.1:8080``: boto3 signs and sends the same request it sends to
``runtime.sagemaker.<region>.amazonaws.com`` and parses the answers, errors included, the same way.

Routes:

- ``POST /endpoints/{EndpointName}/invocations``: SageMaker Runtime ``InvokeEndpoint`` (botocore service model
  ``sagemaker-runtime`` 2017-05-13, protocol rest-json). ``Content-Type`` and ``Accept`` go to the container
  (``X-Amzn-SageMaker-Custom-Attributes`` is accepted; the XGBoost container ignores it, so none comes back);
  the answer carries the container's body and ``Content-Type`` plus ``x-Amzn-Invoked-Production-Variant:
  AllTraffic`` (the variant name the SageMaker SDK gives a single-variant endpoint). Errors are rest-json:
  the code in the ``x-amzn-ErrorType`` header (botocore ``RestJSONParser._inject_error_code`` reads it), the
  modelled members in a JSON body:

  - an endpoint other than the one served: 400 ``ValidationError``, ``Endpoint {name} of account {account} not
    found.``, what SageMaker answers for a name it does not know;
  - the container answered anything but 2xx: 424 ``ModelError`` with ``OriginalStatusCode``, ``OriginalMessage``
    (the container's body) and ``LogStreamArn``, and the message SageMaker builds from them, ``Received client
    error (400) from primary with message "...". See https://<region>.console.aws.amazon.com/cloudwatch/...
    in account <account> for more information.`` (as quoted in aws/amazon-sagemaker-examples issue #1881 and
    philschmid/cdk-samples issue #5).
- ``POST /`` with ``X-Amz-Target: SageMaker.DescribeEndpoint``: the control plane's ``DescribeEndpoint``
  (botocore service model ``sagemaker`` 2017-07-24, protocol json 1.1), so that readiness checks find the endpoint
  through ``AWS_ENDPOINT_URL_SAGEMAKER``. The served name is ``InService`` with one ``AllTraffic`` variant; any
  other name is 400 ``ValidationException`` ``Could not find endpoint "<endpoint ARN>".``, what SageMaker answers
  (as quoted in the stubbed tests of sagemaker-hosting tools, e.g. ``An error occurred (ValidationException) when
  calling the DescribeEndpoint operation: Could not find endpoint "arn:aws:sagemaker:...:endpoint/..."``). JSON 1.1
  errors carry ``__type`` and ``Message`` in the body (botocore ``JSONParser._do_error_parse`` reads both).
- ``POST /invocations``, ``GET /ping``, ``GET /execution-parameters``: what the built-in XGBoost container itself
  serves on port 8080 (aws/sagemaker-xgboost-container ``src/sagemaker_xgboost_container/algorithm_mode/serve.py``).

How the container answers ``/invocations`` (same source, and ``serve_utils.py``, ``encoder.py``):

- empty body: 204;
- ``Content-Type`` other than ``text/csv`` (default when absent): 415;
- CSV that does not parse (ragged rows, text): 415 ``Loading csv data failed with Exception, please ensure data
  is in csv format: ...``; the payload is ``strip()``-ed, split on ``\\n`` and ``,``, an empty cell is NaN;
- a feature count other than the model's: 400 ``Unable to evaluate payload provided: Feature size of csv
  inference data {y} is not consistent with feature size of trained model {x}.`` Deliberately stricter than
  the real container, which only checks this for pickled models (and even lets one column short through);
  for a ``save_model`` file XGBoost itself rejects extra columns but scores missing trailing columns as NaN,
  so a short row would be silently mis-scored on AWS. Here every wrong count fails loudly;
- otherwise 200, ``Accept`` deciding the body: ``text/csv`` (also for no ``Accept`` or ``*/*``, the
  container's ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` default) is ``",".join(map(str, preds.tolist()))``:
  one line, scores comma-separated in row order, each the shortest repr of the float32 score; ``application/json``
  is ``{"predictions": [{"score": ...}, ...]}`` (``serve_utils.encode_predictions_as_json``, pinned by the
  container's ``test/unit/algorithm_mode/test_serve_utils.py``); any other ``Accept`` is 406.

Request and response bodies are never logged: they describe customers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import xgboost as xgb

logger = logging.getLogger(__name__)

MODEL_MEMBER = "xgboost-model"
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
PRODUCTION_VARIANT = "AllTraffic"
# InvokeEndpoint's Body shape: {"max": 6291456} in the botocore service model.
MAX_BODY_BYTES = 6_291_456
# The JSON 1.1 control plane: one POST / per call, the operation named by X-Amz-Target.
JSON_11 = "application/x-amz-json-1.1"
TARGET_PREFIX = "SageMaker."
# DescribeEndpoint's EndpointName shape in the control-plane model.
DESCRIBE_NAME_PATTERN = "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
# EndpointName's shape: {"max": 63, "pattern": "^[a-zA-Z0-9](-*[a-zA-Z0-9])*"}.
ENDPOINT_NAME_PATTERN = "^[a-zA-Z0-9](-*[a-zA-Z0-9])*"
_ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")
_INVOKE_PATH = re.compile(r"/endpoints/(?P<name>[^/]*)/invocations")
_CREDENTIAL_REGION = re.compile(r"Credential=[^/,\s]+/\d{8}/(?P<region>[a-z0-9-]+)/")

CSV = "text/csv"
JSON = "application/json"
SUPPORTED_ACCEPTS = (CSV, JSON)
# Content types the real container also decodes; this local endpoint only speaks CSV, like the handler.
_OTHER_CONTAINER_TYPES = ("text/libsvm", "text/x-libsvm", "application/x-recordio-protobuf")


@dataclass(frozen=True)
class ContainerResponse:
    """What the model container answers to one ``/invocations`` request."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"

    @classmethod
    def text(cls, status: int, message: str) -> ContainerResponse:
        """Answer with a plain-text message, the way the container's Flask app reports failures."""
        return cls(status, message.encode("utf-8"))


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
        if extracted is None:
            raise ValueError(f"{path}: cannot read {MODEL_MEMBER}")
        with extracted:
            raw = extracted.read()
    # serve_utils.get_loaded_booster: pickle.load, and on any failure xgb.Booster().load_model. The archive is
    # the operator's own artifact, trusted like the code that serves it.
    try:
        booster = pickle.loads(raw)  # noqa: S301
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
        # The container loads one booster per worker process and predicts one request at a time in each;
        # one lock around the shared booster gives the threaded server the same one-at-a-time predictions.
        self._lock = threading.Lock()

    @classmethod
    def from_archive(cls, path: Path) -> XGBoostContainer:
        """Load the model from a model.tar.gz."""
        return cls(load_model_archive(path))

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Score a feature matrix exactly as the container does (``validate_features=False``)."""
        with self._lock:
            return np.asarray(self.booster.predict(xgb.DMatrix(rows), validate_features=False))

    def invocations(self, body: bytes, content_type: str | None, accept: str | None) -> ContainerResponse:
        """Answer one ``POST /invocations`` with the container's status codes and body formats."""
        if not body:
            return ContainerResponse(HTTPStatus.NO_CONTENT)
        media = _media_type(content_type) or CSV
        if media in ("csv", CSV):
            pass
        elif media in _OTHER_CONTAINER_TYPES:
            return ContainerResponse.text(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"Content-type {media} is accepted by the SageMaker XGBoost container but not by this local "
                "endpoint, which only decodes text/csv",
            )
        else:
            return ContainerResponse.text(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"Content-type {media} not supported. Supported content-type is text/csv, text/libsvm, "
                "application/x-recordio-protobuf",
            )
        accepted = _media_type(accept)
        if accepted in ("", "*/*"):
            accepted = CSV
        if accepted not in SUPPORTED_ACCEPTS:
            return ContainerResponse.text(
                HTTPStatus.NOT_ACCEPTABLE,
                f"Accept type {accepted} is not supported. "
                f"Please use supported accept types: {list(SUPPORTED_ACCEPTS)}.",
            )
        try:
            rows = parse_csv(body)
        except Exception as exc:
            return ContainerResponse.text(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"Loading csv data failed with Exception, please ensure data is in csv format:\n {type(exc)}\n {exc}",
            )
        if rows.shape[1] != self.n_features:
            return ContainerResponse.text(
                HTTPStatus.BAD_REQUEST,
                "Unable to evaluate payload provided: Feature size of csv inference data "
                f"{rows.shape[1]} is not consistent with feature size of trained model {self.n_features}.",
            )
        try:
            scores = self.predict(rows)
        except Exception as exc:
            return ContainerResponse.text(HTTPStatus.BAD_REQUEST, f"Unable to evaluate payload provided: {exc}")
        if accepted == JSON:
            document = {"predictions": [{"score": s} for s in scores.tolist()]}
            return ContainerResponse(HTTPStatus.OK, json.dumps(document).encode("utf-8"), JSON)
        return ContainerResponse(
            HTTPStatus.OK, ",".join(map(str, scores.tolist())).encode("utf-8"), "text/csv; charset=utf-8"
        )


def parse_csv(body: bytes) -> np.ndarray:
    """Decode a ``text/csv`` payload as the container's ``encoder.csv_to_dmatrix`` does: one row per line."""
    text = body.strip().decode("utf-8")
    cells = [["nan" if cell == "" else cell for cell in line.split(",")] for line in text.split("\n")]
    return np.array(cells).astype(np.float64)


@dataclass
class ServiceError:
    """One rest-json error of the SageMaker Runtime API."""

    status: int
    code: str
    members: dict[str, Any] = field(default_factory=dict)

    def body(self) -> bytes:
        """Serialise the modelled members as the JSON error body."""
        return json.dumps(self.members).encode("utf-8")


def validation_error(message: str) -> ServiceError:
    """Return the ``ValidationError`` (HTTP 400) shape."""
    return ServiceError(HTTPStatus.BAD_REQUEST, "ValidationError", {"Message": message})


def model_error(reply: ContainerResponse, endpoint: str, account: str, region: str) -> ServiceError:
    """Wrap a failed container answer the way SageMaker does: ``ModelError`` (HTTP 424)."""
    original = reply.body.decode("utf-8", errors="replace")
    side = "server" if reply.status >= 500 else "client"
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    console = f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group={group}"
    return ServiceError(
        HTTPStatus.FAILED_DEPENDENCY,
        "ModelError",
        {
            "Message": f'Received {side} error ({reply.status}) from primary with message "{original}". '
            f"See {console} in account {account} for more information.",
            "OriginalStatusCode": reply.status,
            "OriginalMessage": original,
            "LogStreamArn": f"arn:aws:logs:{region}:{account}:log-group:{group}",
        },
    )


class EndpointServer(ThreadingHTTPServer):
    """A threaded HTTP server that holds one loaded model and the endpoint name it answers to."""

    daemon_threads = True
    # Concurrent batch chunks and test bursts open many connections at once; the default backlog of 5 resets them.
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], container: XGBoostContainer, endpoint_name: str, account_id: str
    ) -> None:
        self.container = container
        self.endpoint_name = endpoint_name
        self.account_id = account_id
        # DescribeEndpoint's CreationTime and LastModifiedTime: the endpoint exists from the moment it serves.
        self.created_at = time.time()
        super().__init__(address, EndpointHandler)

    @property
    def url(self) -> str:
        """Return the base URL to put in ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class EndpointHandler(BaseHTTPRequestHandler):
    """Route one request to the runtime API or to the container contract."""

    server: EndpointServer
    protocol_version = "HTTP/1.1"
    server_version = "churn-local-sagemaker/1"
    # Headers and body leave in separate writes; with Nagle on, each keep-alive call waits ~40 ms for an ACK.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        """Serve the container's health and execution-parameters routes."""
        self._guarded(self._get)

    def do_POST(self) -> None:  # noqa: N802
        """Serve InvokeEndpoint and the container's /invocations."""
        self._guarded(self._post)

    def _guarded(self, route: Any) -> None:
        try:
            route()
        except Exception:
            logger.exception("request failed: %s %s", self.command, urlsplit(self.path).path)
            error = ServiceError(HTTPStatus.INTERNAL_SERVER_ERROR, "InternalFailure", {"Message": "internal failure"})
            self._send_error(error)

    def _get(self) -> None:
        path = urlsplit(self.path).path
        if self._read_body() is None:
            return
        if path == "/ping":
            # The container answers 200 once its model is loaded; this server loads it before listening.
            self._send(HTTPStatus.OK, b"", "text/plain; charset=utf-8")
        elif path == "/execution-parameters":
            parameters = {
                "MaxConcurrentTransforms": os.cpu_count() or 1,
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": 6,
            }
            self._send(HTTPStatus.OK, json.dumps(parameters).encode("utf-8"), JSON)
        else:
            self._not_found()

    def _post(self) -> None:
        path = urlsplit(self.path).path
        body = self._read_body()
        if body is None:
            return
        target = self.headers.get("X-Amz-Target")
        if path == "/" and target is not None:
            self._control_plane(target, body)
            return
        if path == "/invocations":
            reply = self.server.container.invocations(
                body, self.headers.get("Content-Type"), self.headers.get("Accept")
            )
            self._send(reply.status, reply.body, reply.content_type)
            return
        match = _INVOKE_PATH.fullmatch(path)
        if match is None:
            self._not_found()
            return
        self._invoke_endpoint(unquote(match["name"]), body)

    def _invoke_endpoint(self, name: str, body: bytes) -> None:
        account = self.server.account_id
        if len(name) > 63 or not _ENDPOINT_NAME.fullmatch(name):
            self._send_error(
                validation_error(
                    f"1 validation error detected: Value '{name}' at 'endpointName' failed to satisfy constraint: "
                    f"Member must satisfy regular expression pattern: {ENDPOINT_NAME_PATTERN}"
                )
            )
            return
        if name != self.server.endpoint_name:
            self._send_error(validation_error(f"Endpoint {name} of account {account} not found."))
            return
        reply = self.server.container.invocations(body, self.headers.get("Content-Type"), self.headers.get("Accept"))
        # Any 2xx is relayed as 200 with the container's body; an empty Body makes the container answer 204,
        # and how SageMaker relays that is undocumented, so it arrives here as 200 with an empty body.
        if not 200 <= reply.status < 300:
            self._send_error(model_error(reply, name, account, self._region()))
            return
        self._send(
            HTTPStatus.OK,
            reply.body,
            reply.content_type,
            {"x-Amzn-Invoked-Production-Variant": PRODUCTION_VARIANT},
        )

    def _control_plane(self, target: str, body: bytes) -> None:
        operation = target.removeprefix(TARGET_PREFIX) if target.startswith(TARGET_PREFIX) else None
        if operation != "DescribeEndpoint":
            self._send_json_error(
                ServiceError(
                    HTTPStatus.BAD_REQUEST, "UnknownOperationException", {"Message": f"{target} is not served"}
                )
            )
            return
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            self._send_json_error(
                ServiceError(HTTPStatus.BAD_REQUEST, "SerializationException", {"Message": "bad JSON"})
            )
            return
        name = request.get("EndpointName") if isinstance(request, dict) else None
        if not isinstance(name, str) or re.fullmatch(DESCRIBE_NAME_PATTERN, name) is None:
            self._send_json_error(
                ServiceError(
                    HTTPStatus.BAD_REQUEST,
                    "ValidationException",
                    {
                        "Message": f"1 validation error detected: Value '{name}' at 'endpointName' failed to satisfy "
                        f"constraint: Member must satisfy regular expression pattern: {DESCRIBE_NAME_PATTERN}"
                    },
                )
            )
            return
        arn = self._endpoint_arn(name)
        if name != self.server.endpoint_name:
            self._send_json_error(
                ServiceError(
                    HTTPStatus.BAD_REQUEST, "ValidationException", {"Message": f'Could not find endpoint "{arn}".'}
                )
            )
            return
        described = {
            "EndpointName": name,
            "EndpointArn": arn,
            "EndpointConfigName": name,
            "ProductionVariants": [
                {
                    "VariantName": PRODUCTION_VARIANT,
                    "CurrentWeight": 1.0,
                    "DesiredWeight": 1.0,
                    "CurrentInstanceCount": 1,
                    "DesiredInstanceCount": 1,
                }
            ],
            "EndpointStatus": "InService",
            # JSON 1.1 timestamps are epoch seconds.
            "CreationTime": self.server.created_at,
            "LastModifiedTime": self.server.created_at,
        }
        self._send(HTTPStatus.OK, json.dumps(described).encode("utf-8"), JSON_11)

    def _endpoint_arn(self, name: str) -> str:
        # SageMaker writes endpoint names lower-cased into their ARNs.
        return f"arn:aws:sagemaker:{self._region()}:{self.server.account_id}:endpoint/{name.lower()}"

    def _send_json_error(self, error: ServiceError) -> None:
        body = json.dumps({"__type": error.code, **error.members}).encode("utf-8")
        self._send(error.status, body, JSON_11)

    def _region(self) -> str:
        # SigV4 names the region in the credential scope of the Authorization header.
        found = _CREDENTIAL_REGION.search(self.headers.get("Authorization", ""))
        return found["region"] if found else DEFAULT_REGION

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            # botocore always sends InvokeEndpoint's Body with a Content-Length; nothing else is supported.
            self.close_connection = True
            self._send(HTTPStatus.LENGTH_REQUIRED, b"Content-Length required", "text/plain; charset=utf-8")
            return None
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send_error(
                validation_error(
                    "1 validation error detected: Value at 'body' failed to satisfy constraint: "
                    f"Member must have length less than or equal to {MAX_BODY_BYTES}"
                )
            )
            return None
        return self.rfile.read(length) if length else b""

    def _not_found(self) -> None:
        self._send_error(
            ServiceError(
                HTTPStatus.NOT_FOUND,
                "UnknownOperationException",
                {"Message": f"No operation at {self.command} {urlsplit(self.path).path}"},
            )
        )

    def _send_error(self, error: ServiceError) -> None:
        self._send(error.status, error.body(), "application/json", {"x-amzn-ErrorType": error.code})

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

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        """Log the request line and status only: bodies and their values never reach the log."""
        logger.info("%s %s", self.address_string(), format % args)


def make_server(
    model_archive: Path,
    endpoint_name: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    account_id: str = DEFAULT_ACCOUNT,
) -> EndpointServer:
    """Load the model once and bind the endpoint (port 0 picks a free port); the caller runs serve_forever."""
    if len(endpoint_name) > 63 or not _ENDPOINT_NAME.fullmatch(endpoint_name):
        raise ValueError(f"{endpoint_name!r} is not a valid SageMaker endpoint name ({ENDPOINT_NAME_PATTERN})")
    container = XGBoostContainer.from_archive(Path(model_archive))
    return EndpointServer((host, port), container, endpoint_name, account_id)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m churn_local.sagemaker_endpoint", description="Serve model.tar.gz as a local SageMaker endpoint."
    )
    parser.add_argument("--model", type=Path, default=Path("artifacts/model.tar.gz"), help="default: %(default)s")
    parser.add_argument("--endpoint-name", default="churn-xgboost", help="default: %(default)s")
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument("--port", type=int, default=8080, help="default: %(default)s (0 picks a free port)")
    parser.add_argument("--account-id", default=DEFAULT_ACCOUNT, help="named in error messages (default: %(default)s)")
    return parser.parse_args(argv)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until Ctrl-C or SIGTERM."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    server = make_server(args.model, args.endpoint_name, args.host, args.port, account_id=args.account_id)
    signal.signal(signal.SIGTERM, _stop)
    print(
        f"SageMaker endpoint {args.endpoint_name} ({server.container.n_features} features) at {server.url}", flush=True
    )
    print(f"  export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "ContainerResponse",
    "ServiceError",
    "EndpointServer",
    "XGBoostContainer",
    "load_model_archive",
    "make_server",
    "parse_csv",
]
