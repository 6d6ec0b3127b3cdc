"""One time budget per request, and the client timeouts and attempts sized to fit it.

The arithmetic, written down once (docs/api.md's "Failure modes" repeats the results, not the rules), and checked
against the template's Timeout and API Gateway's 29 s by tests/unit/test_budget.py:

- A request's budget is the time Lambda says is left (`context.get_remaining_time_in_millis()`) minus
  ANSWER_MARGIN_S, the time kept to log, render and return the answer. With the template's 25 s Timeout that is
  24.5 s, under API Gateway's 29 s integration timeout, so a client always gets the function's own answer.
- Every wait on S3 or SageMaker is bounded by the request's deadline: the call runs on a worker thread and the
  request stops waiting when the deadline passes (the call then ends on its own client timeout, unobserved).
- InvokeEndpoint: botocore does not retry (`total_max_attempts=1`); the scorer makes at most INVOKE_ATTEMPTS
  attempts, a second one only when the first never reached SageMaker (connection refused, connect timeout),
  after INVOKE_BACKOFF_S, and only if INVOKE_MIN_ATTEMPT_S of budget is left. Nothing SageMaker answered is
  retried (the client gets Retry-After instead), nor a read timeout: SageMaker goes on computing the first call.
  Worst case with the whole budget: connect 1 s + backoff 0.2 s + connect 1 s + read 22 s = 24.2 s <= 24.5 s;
  the read timeout (INVOKE_READ_TIMEOUT_S) is what the second attempt has left; a shorter deadline cuts it.
- The chunks of a batch run concurrently under that same deadline; the first failure answers the client at once.
  The worker threads are kept for the container's life: a call takes an idle one, or a new one when all are busy
  (a call left running after its request was answered keeps its thread until its own client timeout).
- S3 GetObject of the transformation (a few kB): connect 1 s + read 2 s, 2 attempts (botocore standard mode; a
  GET is safe to repeat), backoff at most 1 s: worst case 7 s. A failed load is remembered for
  LOAD_RETRY_AFTER_S (1, 2, 4 ... 30 s): meanwhile requests answer TRANSFORMATION_UNAVAILABLE at once.
- With EAGER_INIT (SnapStart), the init phase loads the transformation within EAGER_LOAD_BUDGET_S (8 s: the S3
  worst case of 7 s and the unpickling fit Lambda's 10 s init limit); a failure there is remembered like any other.
- `/health/ready` waits at most READY_BUDGET_S (3 s) in all, whatever S3 and SageMaker do; DescribeEndpoint has
  connect 1 s + read 2 s and one attempt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, CancelledError, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol

from botocore.config import Config

ANSWER_MARGIN_S = 0.5
READY_BUDGET_S = 3.0
EAGER_LOAD_BUDGET_S = 8.0

INVOKE_CONNECT_TIMEOUT_S = 1.0
INVOKE_READ_TIMEOUT_S = 22.0
INVOKE_ATTEMPTS = 2
INVOKE_BACKOFF_S = 0.2
INVOKE_MIN_ATTEMPT_S = 1.0

S3_CONNECT_TIMEOUT_S = 1.0
S3_READ_TIMEOUT_S = 2.0
S3_ATTEMPTS = 2
LOAD_RETRY_AFTER_S = (1, 2, 4, 8, 16, 30)

DESCRIBE_CONNECT_TIMEOUT_S = 1.0
DESCRIBE_READ_TIMEOUT_S = 2.0

# Starting threads for every request would cost more than the work of a 1,000-customer batch (docs/performance.md).
# The executor starts a thread only when none is idle; the bound is far above what
# a container needs (a request runs a few calls at once, and calls left running end within INVOKE_READ_TIMEOUT_S).
MAX_WORKER_THREADS = 64
_workers = ThreadPoolExecutor(max_workers=MAX_WORKER_THREADS, thread_name_prefix="churn-call")


class HasRemainingTime(Protocol):
    """The part of Lambda's context object a deadline is read from."""

    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class Deadline:
    """A point in (monotonic) time by which the request must have its answer."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """Return the deadline `seconds` from now."""
        return cls(time.monotonic() + seconds)

    @classmethod
    def of(cls, context: HasRemainingTime) -> Deadline:
        """Return the request's deadline: what Lambda says is left, minus the margin to answer."""
        return cls.after(context.get_remaining_time_in_millis() / 1000 - ANSWER_MARGIN_S)

    def remaining(self) -> float:
        """Return the seconds left, never negative."""
        return max(0.0, self.at - time.monotonic())

    def sooner(self, seconds: float) -> Deadline:
        """Return this deadline or the one `seconds` from now, whichever comes first."""
        return Deadline(min(self.at, time.monotonic() + seconds))


def sagemaker_runtime_config() -> Config:
    """Return the InvokeEndpoint client's config: botocore makes one attempt, the scorer decides on a second."""
    return Config(
        connect_timeout=INVOKE_CONNECT_TIMEOUT_S,
        read_timeout=INVOKE_READ_TIMEOUT_S,
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=10,
    )


def s3_config() -> Config:
    """Return the S3 client's config for reading the transformation."""
    return Config(
        connect_timeout=S3_CONNECT_TIMEOUT_S,
        read_timeout=S3_READ_TIMEOUT_S,
        retries={"mode": "standard", "total_max_attempts": S3_ATTEMPTS},
    )


def sagemaker_config() -> Config:
    """Return the DescribeEndpoint client's config, used by readiness only."""
    return Config(
        connect_timeout=DESCRIBE_CONNECT_TIMEOUT_S,
        read_timeout=DESCRIBE_READ_TIMEOUT_S,
        retries={"mode": "standard", "total_max_attempts": 1},
    )


def in_background[T](call: Callable[[], T]) -> Future[T]:
    """Start one call on the container's worker threads and return its future (no thread started per request)."""
    return _workers.submit(call)


def within[T](
    deadline: Deadline, calls: Sequence[Callable[[], T]], on_timeout: Callable[[], Exception], *, parallel: int = 1
) -> list[T]:
    """Run the calls on worker threads, `parallel` at most at once; return their results in order, or raise.

    The wait ends at the first failure (raised) or at the deadline; calls still running are not waited for (each ends on
    its own client timeout) and calls not started are cancelled.
    """
    slots = threading.BoundedSemaphore(max(1, parallel))
    answered = threading.Event()
    failures: list[BaseException] = []

    def run(call: Callable[[], T]) -> T:
        with slots:
            if answered.is_set() or failures:
                raise CancelledError  # the request has its answer: start nothing more
            try:
                return call()
            except BaseException as exc:
                failures.append(exc)  # before the slot is freed: a failure starts no further call
                raise

    futures = [_workers.submit(run, call) for call in calls]
    _, pending = wait(futures, timeout=deadline.remaining(), return_when=FIRST_EXCEPTION)
    answered.set()
    for future in pending:
        future.cancel()
    if failures:
        raise failures[0]
    if pending:
        raise on_timeout()
    return [future.result() for future in futures]
