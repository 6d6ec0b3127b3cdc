"""The local servers over raw sockets: idle and half-sent connections time out, odd requests get JSON answers."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from churn_local.apigw import LocalApi, make_server
from churn_local.constants import MODEL_ARCHIVE
from churn_local.services.sagemaker_endpoint import make_server as make_endpoint
from tests.unit.local_api_support import application, echo

IDLE_TIMEOUT_S = 0.5


@pytest.fixture(scope="module", params=["api", "endpoint"])
def served(request: pytest.FixtureRequest, trained_artifacts: Path) -> Iterator[tuple[str, Any]]:
    """Serve the local API (with an echoing function) or the local endpoint, with a short idle timeout."""
    if request.param == "api":
        api = LocalApi(application(), handlers={"ChurnFunction": echo}, static_dir=None)
        running = make_server(api, port=0, idle_timeout_s=IDLE_TIMEOUT_S)
    else:
        running = make_endpoint(
            trained_artifacts / MODEL_ARCHIVE, "churn-xgboost", port=0, idle_timeout_s=IDLE_TIMEOUT_S
        )
    thread = threading.Thread(target=running.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    yield request.param, running
    running.shutdown()
    running.server_close()
    thread.join(timeout=10)


@pytest.fixture
def server(served: tuple[str, Any]) -> Any:
    """Return the running server."""
    return served[1]


def connect(server: Any) -> socket.socket:
    connection = socket.create_connection(server.server_address[:2], timeout=10)
    return connection


def closed_after(connection: socket.socket) -> float:
    """Return how long the server took to close the connection (recv sees end of file)."""
    started = time.monotonic()
    while connection.recv(65536):
        pass
    return time.monotonic() - started


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(server: Any) -> None:
    with connect(server) as connection:
        assert IDLE_TIMEOUT_S * 0.8 <= closed_after(connection) < IDLE_TIMEOUT_S + 3


def test_a_request_head_that_never_ends_is_dropped_after_the_idle_timeout(server: Any) -> None:
    with connect(server) as connection:
        connection.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")

        assert closed_after(connection) < IDLE_TIMEOUT_S + 3


def test_a_body_that_never_comes_gives_the_thread_back_after_the_idle_timeout(server: Any) -> None:
    with connect(server) as connection:
        connection.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 100\r\n\r\n1,2"
        )

        assert closed_after(connection) < IDLE_TIMEOUT_S + 3


def raw_answer(server: Any, head: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(server) as connection:
        connection.sendall(head)
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    header, _, body = data.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("length", ["-1", "abc", "1e3"])
def test_a_content_length_that_is_not_a_byte_count_is_refused_with_a_json_400(server: Any, length: str) -> None:
    status, headers, body = raw_answer(
        server, f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n".encode()
    )

    assert status == 400
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)


def test_trace_on_a_route_is_api_gateways_json_403_not_an_html_501(served: tuple[str, Any]) -> None:
    kind, server = served

    status, headers, body = raw_answer(server, b"TRACE /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

    if kind == "api":
        assert status == 403
        assert json.loads(body) == {"message": "Missing Authentication Token"}
        assert headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    else:
        # The endpoint is not API Gateway: it only has to answer in JSON rather than with an HTML page.
        assert headers["content-type"].startswith("application/json")
        assert json.loads(body)


# -- the request head, as http.server would read it ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /health HTTP/1.1\r\nHost: x\r\nno colon here\r\n", 400),
        (b"GET /health HTTP/1.1\r\nHost : x\r\n", 400),
        (b"GET /health HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(101)), 431),
        (b"GET /health HTTP/1.1\r\nX-Long: " + b"y" * 70000 + b"\r\n", 431),
    ],
    ids=["no-colon", "space-before-colon", "too-many-headers", "line-too-long"],
)
def test_a_malformed_request_head_is_refused_in_json_and_the_connection_closed(
    server: Any, head: bytes, status: int
) -> None:
    answer_status, headers, body = raw_answer(server, head + b"\r\n")

    assert answer_status == status
    assert headers["content-type"].startswith("application/json")
    assert headers["connection"] == "close"
    assert json.loads(body)["message"]


# Only the API: its echoing function shows what the API read.
@pytest.mark.parametrize("served", ["api"], indirect=True)
def test_a_folded_header_and_header_case_reach_the_request_as_one_value(served: tuple[str, Any]) -> None:
    _, server = served
    head = b"GET /health HTTP/1.1\r\nhost: x\r\nX-Folded: one\r\n  two\r\nConnection: close\r\n\r\n"

    status, _, body = raw_answer(server, head)

    assert status == 200
    assert json.loads(body)["headers"]["X-Folded"] == "one two"


# -- buffered answers: head and body leave in one send, but 100 Continue goes out at once -----------------------

POST_PATHS = {"api": "/predict", "endpoint": "/invocations"}


def post_head(path: str, body: bytes, *extra: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: text/csv", f"Content-Length: {len(body)}"]
    return ("\r\n".join([*lines, *extra]) + "\r\n\r\n").encode()


def read_answer(connection: socket.socket) -> bytes:
    """Read one answer whole: its head, then Content-Length bytes of body."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    top, _, rest = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in top.split(b"\r\n") if line.lower().startswith(b"content-length"))
    while len(rest) < length:
        rest += connection.recv(65536)
    return top + b"\r\n\r\n" + rest


def test_a_client_that_expects_100_continue_gets_it_before_sending_its_body(served: tuple[str, Any]) -> None:
    name, server = served
    body = b"1,2,3"
    with connect(server) as connection:
        # GIVEN a request that holds its body back until the server says 100 Continue
        connection.sendall(post_head(POST_PATHS[name], body, "Expect: 100-continue"))
        # THEN the interim answer arrives while the body is still unsent (a buffered one would never come)
        assert connection.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n")
        # AND once the body is sent, the final answer follows
        connection.sendall(body)
        assert read_answer(connection).split(b"\r\n", 1)[0].split()[1] != b"100"


def test_two_requests_on_one_keep_alive_connection_get_two_whole_answers(served: tuple[str, Any]) -> None:
    name, server = served
    body = b"1,2,3"
    with connect(server) as connection:
        answers = []
        for _ in range(2):
            connection.sendall(post_head(POST_PATHS[name], body) + body)
            answers.append(read_answer(connection))
    assert all(answer.startswith(b"HTTP/1.1 ") for answer in answers)
    assert answers[0].split(b"\r\n", 1)[0] == answers[1].split(b"\r\n", 1)[0]
