"""Under concurrent load the local stack answers every request right: no 5xx, no wrong score, bounded memory."""

from __future__ import annotations

from pathlib import Path

from benchmarks.load import run
from tests.integration.conftest import Stack

CLIENTS = 32
WARM_UP_REQUESTS = 300
REQUESTS = 1_500
# RSS may grow while caches and thread pools fill during the first requests; after the warm-up, 1,500 more
# requests must not keep adding to it (a leak of even 40 KB a request would cross this).
RSS_GROWTH_LIMIT_BYTES = 60 * 1024 * 1024


def rss_bytes(pid: int) -> int:
    """Return a process's resident set size, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def test_32_clients_mixing_singles_batches_and_invalid_bodies_get_no_5xx_no_wrong_score_and_memory_stays_bounded(
    stack: Stack, trained_artifacts: Path
) -> None:
    warm_up = run(stack.api_url, trained_artifacts, users=CLIENTS, requests=WARM_UP_REQUESTS, run_time="120s")
    before = rss_bytes(stack.process.pid)
    report = run(stack.api_url, trained_artifacts, users=CLIENTS, requests=REQUESTS, run_time="300s")
    after = rss_bytes(stack.process.pid)

    for summary, sent in ((warm_up, WARM_UP_REQUESTS), (report, REQUESTS)):
        assert summary["requests"] == sent, summary
        assert summary["server_errors"] == 0, summary
        assert summary["wrong_answers"] == 0, summary
        assert summary["unexpected_status"] == 0, summary
        assert summary["failures"] == 0, summary
        assert summary["invalid_refused"] > 0, summary
    assert after - before < RSS_GROWTH_LIMIT_BYTES, f"RSS grew from {before:,} to {after:,} bytes"
