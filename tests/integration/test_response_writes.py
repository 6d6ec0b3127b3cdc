"""The local servers buffer their answers (head and body in one send): 100 Continue still goes out at once."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from churn_local.apigw import LocalApi, make_server
from churn_local.constants import MODEL_ARCHIVE
from churn_local.sagemaker_endpoint import make_server as make_endpoint
from tests.unit.local_api_support import application, echo

PATHS = {"api": "/predict", "endpoint": "/invocations"}


@pytest.fixture(scope="module", params=list(PATHS))
def served(request: pytest.FixtureRequest, trained_artifacts: Path) -> Iterator[tuple[str, Any]]:
    """Serve the local API (with an echoing function) or the local endpoint on a free port."""
    if request.param == "api":
        running = make_server(LocalApi(application(), handlers={"ChurnFunction": echo}, static_dir=None), port=0)
    else:
        running = make_endpoint(trained_artifacts / MODEL_ARCHIVE, "churn-xgboost", port=0)
    thread = threading.Thread(target=running.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    yield request.param, running
    running.shutdown()
    running.server_close()
    thread.join(timeout=10)


def head(path: str, body: bytes, *extra: str) -> bytes:
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
    with socket.create_connection(server.server_address[:2], timeout=5) as connection:
        # GIVEN a request that holds its body back until the server says 100 Continue
        connection.sendall(head(PATHS[name], body, "Expect: 100-continue"))
        # THEN the interim answer arrives while the body is still unsent
        assert connection.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n")
        # AND once the body is sent, the final answer follows
        connection.sendall(body)
        assert read_answer(connection).split(b"\r\n", 1)[0].split()[1] != b"100"


def test_two_requests_on_one_keep_alive_connection_get_two_whole_answers(served: tuple[str, Any]) -> None:
    name, server = served
    body = b"1,2,3"
    with socket.create_connection(server.server_address[:2], timeout=5) as connection:
        answers = []
        for _ in range(2):
            connection.sendall(head(PATHS[name], body) + body)
            answers.append(read_answer(connection))
    assert all(answer.startswith(b"HTTP/1.1 ") for answer in answers)
    assert answers[0].split(b"\r\n", 1)[0] == answers[1].split(b"\r\n", 1)[0]
