"""Drive POST requests at a local API over HTTP: sequential latency, and throughput with wrk or http.client threads."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

# wrk's Lua script prints its summary on one line with this prefix.
WRK_SUMMARY = "BENCH "


def _post(connection: http.client.HTTPConnection, path: str, body: bytes) -> int:
    connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    return response.status


def sequential(api_url: str, path: str, body: bytes, repeat: int) -> list[float]:
    """POST `repeat` times on one keep-alive connection; return each latency in ms (any non-200 fails)."""
    host, port = api_url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    samples = []
    try:
        for _ in range(repeat):
            started = time.perf_counter()
            status = _post(connection, path, body)
            samples.append((time.perf_counter() - started) * 1e3)
            if status != 200:
                raise RuntimeError(f"POST {path} answered {status}")
    finally:
        connection.close()
    return samples


# wrk's own status count covers only answers >= 400: each thread counts every answer outside 2xx itself.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BENCH_BODY"), "rb"); wrk.body = f:read("*a"); f:close()
local threads = {}
setup = function(thread) table.insert(threads, thread) end
non2xx = 0
response = function(status, headers, body) if status < 200 or status > 299 then non2xx = non2xx + 1 end end
done = function(s, latency, r)
  local e, outside = s.errors, 0
  for _, thread in ipairs(threads) do outside = outside + thread:get("non2xx") end
  io.write(string.format("BENCH {\\"requests\\": %d, \\"errors\\": %d, \\"non2xx\\": %d, "
    .. "\\"p50_ms\\": %.3f, \\"p99_ms\\": %.3f}\\n",
    s.requests, e.connect + e.read + e.write + e.timeout, outside, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000))
end
"""


def load(api_url: str, body: bytes, connections: int, duration_s: float) -> dict[str, Any]:
    """POST /predict from `connections` keep-alive connections for a while; count requests, errors and non-2xx."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return _thread_load(api_url, body, connections, duration_s)
    with tempfile.TemporaryDirectory(prefix="churn-wrk-") as tmp:
        (Path(tmp) / "post.lua").write_text(WRK_SCRIPT)
        (Path(tmp) / "body.json").write_bytes(body)
        threads = str(min(connections, os.cpu_count() or 1))
        command = [wrk, "-t", threads, "-c", str(connections), "-d", f"{duration_s:g}s", "--timeout", "10s"]
        command += ["-s", str(Path(tmp) / "post.lua"), f"{api_url}/predict"]
        started = time.perf_counter()
        out = subprocess.run(
            command, env={**os.environ, "BENCH_BODY": str(Path(tmp) / "body.json")}, capture_output=True, text=True
        )
        elapsed = time.perf_counter() - started
    line = next(line for line in out.stdout.splitlines() if line.startswith(WRK_SUMMARY))
    result: dict[str, Any] = json.loads(line[len(WRK_SUMMARY) :])
    result["seconds"] = min(elapsed, duration_s)
    result["client"] = "wrk"
    return result


def _thread_load(api_url: str, body: bytes, connections: int, duration_s: float) -> dict[str, Any]:
    host, port = api_url.removeprefix("http://").rsplit(":", 1)
    deadline = time.perf_counter() + duration_s
    counts = {"requests": 0, "errors": 0, "non2xx": 0}
    latencies: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        with closing(connection):
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    status = _post(connection, "/predict", body)
                except (OSError, http.client.HTTPException):
                    connection.close()
                    with lock:
                        counts["errors"] += 1
                    continue
                with lock:
                    counts["requests"] += 1
                    counts["non2xx"] += not 200 <= status < 300
                    latencies.append((time.perf_counter() - started) * 1e3)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    seconds = time.perf_counter() - started
    return {**counts, "p50_ms": q[49], "p99_ms": q[98], "seconds": seconds, "client": "http.client threads"}


def per_request(stats: dict[str, Any], requests: int) -> dict[str, float]:
    """Split the worker's time per request: in the handler, in the endpoint container, and the rest."""
    n = max(requests, 1)
    handler, endpoint = stats["handler"], stats["endpoint"]
    return {
        "process_cpu_ms": stats["process_cpu_ms"] / n,
        "environments_cpu_ms": stats["environments_cpu_ms"] / n,
        "handler_cpu_ms": handler["cpu_ms"] / n,
        "handler_wall_ms": handler["wall_ms"] / n,
        "endpoint_cpu_ms": endpoint["cpu_ms"] / n,
        "endpoint_wall_ms": endpoint["wall_ms"] / n,
        "stack_cpu_ms": (stats["process_cpu_ms"] - handler["cpu_ms"] - endpoint["cpu_ms"]) / n,
    }
