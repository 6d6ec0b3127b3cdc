"""The whole local stack as a subprocess (`python -m churn_local.stack.serve` on free ports), and HTTP helpers."""

from __future__ import annotations

import functools
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from churn_local.apigw.gateway import STATIC_DIR
from churn_local.constants import PROJECT_ROOT
from churn_local.stack.serve import READY_LINE
from churn_local.training import dataset
from churn_local.training.reference_model import ReferenceModel

START_TIMEOUT_S = 180
STOP_TIMEOUT_S = 30


@dataclass
class Stack:
    """A running `python -m churn_local.stack.serve` and what it printed."""

    process: subprocess.Popen[str]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    api_url: str = ""
    endpoint_url: str = ""
    s3_url: str = ""
    readers: list[threading.Thread] = field(default_factory=list)

    @property
    def ports(self) -> list[int]:
        """Return the three ports the stack listens on."""
        return [int(url.rsplit(":", 1)[1]) for url in (self.api_url, self.endpoint_url, self.s3_url)]

    def output(self) -> str:
        """Return everything printed so far, for failure messages."""
        return "".join(self.stdout) + "\n--- stderr ---\n" + "".join(self.stderr)


def _drain(stream: Any, lines: list[str], ready: threading.Event | None, stack: Stack) -> None:
    # Reading continuously keeps the pipe from filling up (the handler logs JSON to stdout for every request).
    for line in stream:
        lines.append(line)
        if ready is not None and (match := READY_LINE.search(line)):
            stack.api_url, stack.endpoint_url, stack.s3_url = match["api"], match["endpoint"], match["s3"]
            ready.set()
    if ready is not None:
        ready.set()


def serve_command(artifacts: Path, *extra: str) -> list[str]:
    """Return the command line the tests start the stack with (every port chosen by the system)."""
    ports = ["--api-port", "0", "--endpoint-port", "0", "--s3-port", "0"]
    return [sys.executable, "-m", "churn_local.stack.serve", "--artifacts", str(artifacts), *ports, *extra]


def clean_environment() -> dict[str, str]:
    """Return this environment without AWS settings (nothing points at a real account) and without a local API key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "CHURN_API_KEY"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_stack(command: Sequence[str]) -> Stack:
    """Start the stack and wait for its ready line; fail with its output if it never comes."""
    process = subprocess.Popen(
        list(command),
        cwd=PROJECT_ROOT,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    stack = Stack(process)
    ready = threading.Event()
    stack.readers = [
        threading.Thread(target=_drain, args=(process.stdout, stack.stdout, ready, stack), daemon=True),
        threading.Thread(target=_drain, args=(process.stderr, stack.stderr, None, stack), daemon=True),
    ]
    for reader in stack.readers:
        reader.start()
    if not ready.wait(START_TIMEOUT_S) or not stack.api_url:
        process.kill()
        _reap(stack)
        pytest.fail(f"the local stack did not get ready:\n{stack.output()}")
    return stack


def _reap(stack: Stack) -> int:
    code = stack.process.wait()
    for reader in stack.readers:
        reader.join(timeout=10)
    for stream in (stack.process.stdout, stack.process.stderr):
        if stream is not None:
            stream.close()
    return code


def stop_stack(stack: Stack, sig: signal.Signals = signal.SIGINT) -> int:
    """Stop the stack like Ctrl-C (or SIGTERM) and return its exit code."""
    stack.process.send_signal(sig)
    try:
        stack.process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        _reap(stack)
        pytest.fail(f"the local stack did not stop within {STOP_TIMEOUT_S} s:\n{stack.output()}")
    return _reap(stack)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Tell whether a listening socket could be opened on the port now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def assert_clean_stop(stack: Stack, sig: signal.Signals = signal.SIGINT) -> None:
    """Stop the stack and check it exits 0, says so, and gives its ports back."""
    code = stop_stack(stack, sig)
    assert code == 0, stack.output()
    assert "Traceback" not in "".join(stack.stderr), stack.output()
    assert any("stopped" in line for line in stack.stdout), stack.output()
    assert all(port_is_free(port) for port in stack.ports)


@pytest.fixture(scope="session")
def stack(trained_artifacts: Path) -> Iterator[Stack]:
    """Run the whole stack once per session; stopping it at the end must be clean."""
    running = start_stack(serve_command(trained_artifacts))
    yield running
    assert_clean_stop(running)


CHROMIUM = Path("/usr/bin/chromium")
# Playwright drives the system browser; its own browser download is never used.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Launch Debian's Chromium; without it, skip locally but fail in CI, which must run these tests."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only where Chromium is there to drive

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# A key of the length API Gateway requires (20 to 128 characters).
API_KEY = "front-end-test-key-0123456789"


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


@dataclass
class StaticSite:
    """The demo page's folder served by a plain file server: another origin than the API's."""

    server: http.server.ThreadingHTTPServer
    thread: threading.Thread

    @property
    def origin(self) -> str:
        """Return the site's origin, as browsers send it in the Origin header."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def open_page(chromium: Any, url: str) -> Iterator[Any]:
    """Open a page in a fresh browser context, yield it, and fail on any script error it raised."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(url)
    yield tab
    context.close()
    assert errors == []


@pytest.fixture(scope="session")
def static_site() -> Iterator[StaticSite]:
    """Serve local/churn_local/static/ on its own free port for the whole session."""
    handler = functools.partial(_QuietFiles, directory=str(STATIC_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    yield StaticSite(server, thread)
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def front_end_stack(trained_artifacts: Path, static_site: StaticSite) -> Iterator[Stack]:
    """Run a stack that allows the static site's origin and requires API_KEY, as a front end would meet it."""
    running = start_stack(serve_command(trained_artifacts, "--cors-origin", static_site.origin, "--api-key", API_KEY))
    yield running
    assert_clean_stop(running)


# -- HTTP --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One HTTP answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """Parse the body as JSON."""
        return json.loads(self.body)


def send(
    method: str, url: str, body: bytes | str | Mapping[str, Any] | list[Any] | None = None, **headers: str
) -> Reply:
    """Send one request over a fresh connection; 4xx and 5xx are answers too, not exceptions."""
    if isinstance(body, Mapping | list):
        body = json.dumps(body)
        headers.setdefault("Content_Type", "application/json")
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method=method)
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, dict(error.headers), error.read())


def cross_origin_post(
    stack: Stack, path: str, body: object, origin: str, key: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """POST JSON as a page on `origin` would (with the key, if given); return status, headers and body."""
    headers = {"Origin": origin, "Content_Type": "application/json"}
    if key is not None:
        headers["x_api_key"] = key
    reply = send("POST", f"{stack.api_url}{path}", json.dumps(body), **headers)
    return reply.status, dict(reply.headers), reply.body


def predict(stack: Stack, payload: Mapping[str, Any] | str | bytes) -> Reply:
    """POST a customer to the stack's /predict."""
    return send("POST", f"{stack.api_url}/predict", payload, Content_Type="application/json")


# -- the model's own answer ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def reference_model(trained_artifacts: Path) -> ReferenceModel:
    """Return the trained model and transformation, loaded without the API's code."""
    return ReferenceModel(trained_artifacts)


@pytest.fixture(scope="session")
def held_out_payloads(trained_metadata: dict[str, Any], churn_frame: pd.DataFrame) -> list[dict[str, str]]:
    """Return the held-out rows of the trained model as API payloads, in data order."""
    return [dataset.as_payload(churn_frame.iloc[i]) for i in trained_metadata["test_rows"]]
