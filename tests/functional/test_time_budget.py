"""Every request answers inside its time budget: real boto3 clients against real slow, hanging or failing servers.

GIVEN a Lambda context with little time left (1.5 s) and S3 or SageMaker served by a local HTTP server that
misbehaves, WHEN the function is invoked, THEN it answers the right status and code before the budget runs out,
with the number of calls the budget arithmetic (churn_api.budget) allows.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

import pytest

from churn_local.lambda_runtime.context import LambdaContext
from churn_local.lambda_runtime.event_files import api_event, load_event, reference_payload
from churn_local.services.http_server import free_port
from churn_local.training.transformation import dumps
from tests.functional.conftest import fresh_app

BUDGET_MS = 1_500
# What a 1.5 s budget allows: the deadline (1.0 s after the 0.5 s margin) plus thread and rendering slack.
WITHIN_BUDGET_S = BUDGET_MS / 1000

Behaviour = Callable[[BaseHTTPRequestHandler, threading.Event], None]


class FaultyServer:
    """A threaded HTTP server on 127.0.0.1 that answers every request with one behaviour, counting requests."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[str] = []
        self.released = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._serve()

            def _serve(self) -> None:
                server.requests.append(f"{self.command} {self.path}")
                server.behaviour(self, server.released)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        """Release hanging handlers (their clients see the connection close) and stop."""
        self.released.set()
        self.http.shutdown()
        self.http.server_close()


def hang(handler: BaseHTTPRequestHandler, released: threading.Event) -> None:
    """Accept the request and never answer (until the test ends)."""
    released.wait(30)
    handler.close_connection = True


def answer(status: int, body: bytes, **headers: str) -> Behaviour:
    """Answer at once."""

    def respond(handler: BaseHTTPRequestHandler, released: threading.Event) -> None:
        handler.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return respond


def sagemaker_error(code: str, status: int) -> Behaviour:
    """Answer an InvokeEndpoint error as SageMaker does (rest-json: the code in x-amzn-ErrorType)."""
    return answer(status, json.dumps({"message": "detail"}).encode(), **{"x-amzn-ErrorType": code})


@pytest.fixture
def servers(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, fitted_transformation: dict[str, Any]
) -> Iterator[Callable[..., ModuleType]]:
    """Start S3 and SageMaker servers with the given behaviours, and a cold container pointed at them."""
    started: list[FaultyServer] = []

    def start(
        s3: Behaviour | None = None, runtime: Behaviour | str | None = None, control: Behaviour | None = None
    ) -> ModuleType:
        transformation = answer(200, dumps(fitted_transformation), **{"Content-Type": "application/octet-stream"})
        for variable, behaviour in (
            ("AWS_ENDPOINT_URL_S3", s3 or transformation),
            ("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", runtime or answer(200, b"0.5")),
            ("AWS_ENDPOINT_URL_SAGEMAKER", control or answer(200, b'{"EndpointStatus": "InService"}')),
        ):
            if isinstance(behaviour, str):
                monkeypatch.setenv(variable, behaviour)
                continue
            server = FaultyServer(behaviour)
            started.append(server)
            monkeypatch.setenv(variable, server.url)
            setattr(Servers, variable, server)
        return fresh_app()

    yield start
    for server in started:
        server.close()


class Servers:
    """The servers the last container was pointed at, by the variable that named them."""

    AWS_ENDPOINT_URL_S3: FaultyServer
    AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: FaultyServer
    AWS_ENDPOINT_URL_SAGEMAKER: FaultyServer


def timed(app: ModuleType, event: Any, remaining_ms: int = BUDGET_MS) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    response = app.lambda_handler(event, LambdaContext(timeout_s=remaining_ms / 1000))
    return response, time.monotonic() - started


def error_of(response: dict[str, Any]) -> tuple[int, str]:
    return response["statusCode"], json.loads(response["body"])["error"]["code"]


def test_a_hanging_endpoint_is_a_504_inside_the_budget_after_one_call(servers: Callable[..., ModuleType]) -> None:
    app = servers(runtime=hang)
    response, elapsed = timed(app, load_event("api-predict"))
    assert error_of(response) == (504, "MODEL_TIMEOUT")
    assert elapsed < WITHIN_BUDGET_S
    assert len(Servers.AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME.requests) == 1  # a read timeout is never retried


def test_a_direct_invocation_has_the_same_budget(servers: Callable[..., ModuleType]) -> None:
    app = servers(runtime=hang)
    response, elapsed = timed(app, load_event("direct-reference"))
    assert (response["statusCode"], response["error"]["code"]) == (504, "MODEL_TIMEOUT")
    assert elapsed < WITHIN_BUDGET_S


def test_the_chunks_of_a_batch_share_one_deadline(servers: Callable[..., ModuleType]) -> None:
    app = servers(runtime=hang)
    response, elapsed = timed(app, api_event({"customers": [reference_payload()] * 600}, path="/predict/batch"))
    assert error_of(response) == (504, "MODEL_TIMEOUT")
    assert elapsed < WITHIN_BUDGET_S
    assert (
        len(Servers.AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME.requests) == 3
    )  # 600 rows in chunks of 250: one call each, none repeated


def test_the_first_failing_chunk_answers_without_waiting_for_the_hanging_ones(
    servers: Callable[..., ModuleType],
) -> None:
    calls = iter(range(1000))

    def first_fails_others_hang(handler: BaseHTTPRequestHandler, released: threading.Event) -> None:
        if next(calls) == 0:
            sagemaker_error("ModelError", 424)(handler, released)
        else:
            hang(handler, released)

    app = servers(runtime=first_fails_others_hang)
    response, elapsed = timed(
        app, api_event({"customers": [reference_payload()] * 600}, path="/predict/batch"), remaining_ms=20_000
    )
    assert error_of(response) == (502, "MODEL_ERROR")
    assert elapsed < 2.0


def test_a_slow_endpoint_inside_the_budget_is_answered(servers: Callable[..., ModuleType]) -> None:
    def slow(handler: BaseHTTPRequestHandler, released: threading.Event) -> None:
        time.sleep(0.3)
        answer(200, b"0.81")(handler, released)

    app = servers(runtime=slow)
    response, _ = timed(app, load_event("api-predict"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["score"] == 0.81


def test_a_refused_connection_is_tried_twice_then_a_503_with_retry_after(servers: Callable[..., ModuleType]) -> None:
    app = servers(runtime=closed_port())
    attempts = Attempts()
    app.predictor.scorer.client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", attempts)
    response, elapsed = timed(app, load_event("api-predict"), remaining_ms=20_000)
    assert error_of(response) == (503, "MODEL_ENDPOINT_UNAVAILABLE")
    assert response["multiValueHeaders"]["Retry-After"] == ["5"]
    assert attempts.count == 2  # nothing reached SageMaker: one more try is safe
    assert elapsed < 1.0
    # With too little budget left for a second attempt, the first failure is the answer.
    response, _ = timed(app, load_event("api-predict"))
    assert error_of(response) == (503, "MODEL_ENDPOINT_UNAVAILABLE")
    assert attempts.count == 3


def closed_port() -> str:
    """Return the URL of a port nothing listens on (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"


class Attempts:
    """Count the HTTP attempts a boto3 client makes."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, **_: Any) -> None:
        self.count += 1


@pytest.mark.parametrize(
    ("code", "status", "answered", "retry_after"),
    [
        ("ModelNotReadyException", 429, (503, "MODEL_NOT_READY"), "5"),
        ("ThrottlingException", 400, (503, "MODEL_THROTTLED"), "1"),
        ("ServiceUnavailable", 503, (503, "MODEL_ENDPOINT_UNAVAILABLE"), "5"),
        ("InternalFailure", 500, (503, "MODEL_ENDPOINT_UNAVAILABLE"), "5"),
        ("InternalDependencyException", 530, (503, "MODEL_ENDPOINT_UNAVAILABLE"), "5"),
        ("ModelError", 424, (502, "MODEL_ERROR"), None),
        ("ValidationError", 400, (503, "MODEL_ENDPOINT_UNAVAILABLE"), None),
    ],
)
def test_every_documented_sagemaker_error_over_http_is_answered_once_with_its_code(
    servers: Callable[..., ModuleType], code: str, status: int, answered: tuple[int, str], retry_after: str | None
) -> None:
    app = servers(runtime=sagemaker_error(code, status))
    response, elapsed = timed(app, load_event("api-predict"))
    assert error_of(response) == answered
    assert response["multiValueHeaders"].get("Retry-After") == ([retry_after] if retry_after else None)
    assert len(Servers.AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME.requests) == 1
    assert elapsed < WITHIN_BUDGET_S


def test_an_endpoint_answer_that_is_not_utf8_is_a_502(servers: Callable[..., ModuleType]) -> None:
    app = servers(runtime=answer(200, b"0.5\xff\xfe"))
    response, _ = timed(app, load_event("api-predict"))
    assert error_of(response) == (502, "MODEL_BAD_RESPONSE")


def test_a_hanging_s3_is_a_500_inside_the_budget(servers: Callable[..., ModuleType]) -> None:
    app = servers(s3=hang)
    response, elapsed = timed(app, load_event("api-predict"))
    assert error_of(response) == (500, "TRANSFORMATION_UNAVAILABLE")
    assert elapsed < WITHIN_BUDGET_S
    assert Servers.AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME.requests == []


def test_a_failed_load_is_remembered_so_a_burst_answers_at_once(servers: Callable[..., ModuleType]) -> None:
    app = servers(s3=answer(500, b"<Error><Code>InternalError</Code></Error>"))
    first, _ = timed(app, load_event("api-predict"), remaining_ms=20_000)
    assert error_of(first) == (500, "TRANSFORMATION_UNAVAILABLE")
    reads = len(Servers.AWS_ENDPOINT_URL_S3.requests)
    assert reads == 2  # botocore standard mode, total_max_attempts=2
    for _ in range(10):
        response, elapsed = timed(app, load_event("api-predict"), remaining_ms=20_000)
        assert error_of(response) == (500, "TRANSFORMATION_UNAVAILABLE")
        assert response["multiValueHeaders"]["Retry-After"] == ["1"]
        assert elapsed < 0.2
    assert len(Servers.AWS_ENDPOINT_URL_S3.requests) == reads


def test_readiness_answers_within_seconds_when_s3_and_sagemaker_both_hang(servers: Callable[..., ModuleType]) -> None:
    app = servers(s3=hang, control=hang)
    response, elapsed = timed(app, api_event(None, method="GET", path="/health/ready"), remaining_ms=20_000)
    assert response["statusCode"] == 503
    report = json.loads(response["body"])
    assert report["transformation"] == {"loaded": False, "error": "TRANSFORMATION_UNAVAILABLE"}
    assert report["endpoint"]["status"] == "Unreachable"
    assert elapsed < 3.5
