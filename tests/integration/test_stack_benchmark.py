"""`make bench`'s local-stack figures: the stack as `make serve` runs it; a load driver that counts each failure."""

from __future__ import annotations

import http.server
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import stack, stack_versus
from churn_local.constants import PROJECT_ROOT
from churn_local.training import dataset

CLIENTS = ["wrk", "http.client threads"]


def make_serve_environments(target: str = "serve", *variables: str) -> int:
    """Return the --environments that a make target passes (make -n prints the command without running it)."""
    command = subprocess.run(
        ["make", "-n", target, *variables], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    found = re.search(r"--environments (\d+)", command.stdout)
    return int(found[1]) if found else 1


class _Answers(http.server.BaseHTTPRequestHandler):
    """Answer every POST with the server's `status`, or hang up without answering when it is None."""

    protocol_version = "HTTP/1.1"
    server: _FixedServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.server.status is None:
            self.close_connection = True
            return
        body = b"" if self.server.status == 204 else b"{}"  # a 204 has no body
        self.send_response(self.server.status)
        if body:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


class _FixedServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    status: int | None = 200


@pytest.fixture
def fixed_server() -> Iterator[_FixedServer]:
    """Serve fixed answers on a free port."""
    server = _FixedServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(params=CLIENTS)
def client(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Drive the load with wrk (skipped where it is not installed) or with the fallback of http.client threads."""
    if request.param == "wrk" and shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    if request.param != "wrk":
        monkeypatch.setattr(shutil, "which", lambda name: None)  # stack_versus.load looks wrk up
    return str(request.param)


def test_the_benchmarks_run_as_many_environments_as_make_serve() -> None:
    assert stack_versus.serve_environments() == make_serve_environments()
    assert make_serve_environments("bench") == make_serve_environments("bench-local") == make_serve_environments()
    for value in ("1", "3", ""):
        chosen = make_serve_environments("serve", f"ENVIRONMENTS={value}")
        assert make_serve_environments("bench", f"ENVIRONMENTS={value}") == chosen


def test_a_makefile_without_an_environments_default_means_one(tmp_path: Path) -> None:
    makefile = tmp_path / "Makefile"
    makefile.write_text("ENVIRONMENTS ?=\nBASELINE ?= main\n", encoding="utf-8")
    assert stack_versus.serve_environments(makefile) == 1
    makefile.write_text("ENVIRONMENTS ?= 3\n", encoding="utf-8")
    assert stack_versus.serve_environments(makefile) == 3


@pytest.mark.parametrize("status", [500, 404, 302])
def test_the_load_counts_answers_outside_2xx(fixed_server: _FixedServer, client: str, status: int) -> None:
    # GIVEN a server that answers every request with an error status
    fixed_server.status = status
    # WHEN the load driver runs against it
    loaded = stack_versus.load(f"http://127.0.0.1:{fixed_server.server_address[1]}", b"{}", 4, 1.0)
    # THEN every answer counts as non-2xx, none as a success, and the client is named
    assert loaded["client"] == client
    assert loaded["requests"] > 0
    assert loaded["non2xx"] == loaded["requests"]


def test_the_load_counts_connections_dropped_without_an_answer(fixed_server: _FixedServer, client: str) -> None:
    fixed_server.status = None
    loaded = stack_versus.load(f"http://127.0.0.1:{fixed_server.server_address[1]}", b"{}", 4, 1.0)
    assert loaded["client"] == client
    assert loaded["errors"] > 0


@pytest.mark.parametrize("status", [200, 204])
def test_the_load_counts_no_error_when_every_answer_is_2xx(
    fixed_server: _FixedServer, client: str, status: int
) -> None:
    fixed_server.status = status
    loaded = stack_versus.load(f"http://127.0.0.1:{fixed_server.server_address[1]}", b"{}", 4, 1.0)
    assert loaded["requests"] > 0
    assert (loaded["errors"], loaded["non2xx"]) == (0, 0)


def test_the_stack_figures_come_from_make_serve_s_environments_with_no_failed_request(
    trained_artifacts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a short run (speed goals live in `make bench`, not here)
    monkeypatch.setattr(stack, "DURATION_S", 1.0)
    monkeypatch.setattr(stack, "SEQUENTIAL", 20)
    monkeypatch.setattr(stack, "BATCHES", 2)
    payloads = [dataset.as_payload(row) for _, row in dataset.load().head(1000).iterrows()]
    # WHEN the benchmark measures the local stack
    figures = stack.measure(PROJECT_ROOT, trained_artifacts, payloads)
    # THEN it ran make serve's environments, drove 32 connections with the named client, and nothing failed
    assert figures["environments"] == make_serve_environments()
    assert figures["concurrent_client"] == ("wrk" if shutil.which("wrk") else "http.client threads")
    assert figures["concurrent_clients"] == 32
    assert figures["concurrent_requests"] > 0
    assert figures["concurrent_errors"] == figures["concurrent_socket_errors"] + figures["concurrent_non2xx"] == 0
    assert figures["batch_1000_p50_ms"] > 0
