"""Several warm execution environments of one function, each its own process, like Lambda's concurrency.

Lambda runs concurrent requests in separate execution environments, each serving one invocation at a time; SAM
CLI's `--warm-containers` keeps one container per function. A Python process can only run one handler at a time
(the GIL), and Powertools keeps the current event on a module-level router, so invocations in threads of one
process are neither parallel nor safe: here each environment is a process of its own (multiprocessing, `spawn`)
that imports the handler once and then answers invocations over a pipe.

- An invocation takes an idle environment, waiting no longer than API Gateway's integration timeout.
- Past the function's `Timeout` the environment is killed and a fresh one started (Lambda: "Task timed out", the
  environment is thrown away); past the integration timeout API Gateway answers 504 and the function runs on until
  its own deadline, then its environment is killed, while a fresh one takes its place at once.
- An environment that dies mid-invocation (a crash) is a function error: 502, and a fresh environment.
FunctionContainer (invoke.py) is the in-process variant, with one environment.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from churn_local.lambda_runtime.context import new_log_stream_name
from churn_local.lambda_runtime.invoke import Invocation, InvocationClocks, Outcome, import_handler, lambda_context
from churn_local.template.provider import FunctionSpec

log = logging.getLogger(__name__)

# How long a new environment may take to import the handler (Lambda's init phase is limited to 10 s; a loaded
# laptop may need longer to import scikit-learn).
INIT_TIMEOUT_S = 120.0
_CONTEXT = multiprocessing.get_context("spawn")


def _serve(spec: FunctionSpec, region: str, environment: Mapping[str, str], connection: Connection) -> None:
    """Run in the environment's process: import the handler once, then answer invocations until the pipe closes."""
    # Ctrl-C reaches the whole process group; the stack stops its environments itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(environment)
    handler = import_handler(spec)
    log_stream_name = new_log_stream_name()
    connection.send("ready")
    while True:
        try:
            event, request_id, remaining_s = connection.recv()
        except (EOFError, OSError):
            return
        context = lambda_context(spec, region, remaining_s, log_stream_name)
        try:
            answer: tuple[Outcome, Any] = (Outcome.RETURNED, handler(event, context))
        except Exception:
            logging.getLogger(__name__).exception("%s failed (request %s)", spec.logical_id, request_id)
            answer = (Outcome.FAILED, None)
        try:
            connection.send(answer)
        except Exception:  # an answer that cannot cross the pipe is as bad as one API Gateway cannot read
            logging.getLogger(__name__).exception("%s returned an answer that cannot be sent", spec.logical_id)
            connection.send((Outcome.FAILED, None))


class _Environment:
    """One environment process and the parent's end of its pipe."""

    def __init__(self, spec: FunctionSpec, region: str, environment: Mapping[str, str], number: int) -> None:
        self.connection, child = _CONTEXT.Pipe()
        arguments = (spec, region, dict(environment), child)
        self.process = _CONTEXT.Process(target=_serve, args=arguments, name=f"{spec.logical_id}-{number}", daemon=True)
        self.process.start()
        child.close()

    def ready(self) -> bool:
        """Wait for the handler to be imported; tell whether it was."""
        try:
            return self.connection.poll(INIT_TIMEOUT_S) and self.connection.recv() == "ready"
        except (EOFError, OSError):
            return False

    def kill(self) -> None:
        """Stop the process at once, as Lambda stops an environment it throws away."""
        self.process.kill()
        self.process.join(timeout=5)
        self.connection.close()


class ProcessContainers:
    """`count` warm environments of one function, each in its own process; the same `invoke` as FunctionContainer."""

    def __init__(
        self,
        spec: FunctionSpec,
        environment: Mapping[str, str],
        count: int,
        *,
        region: str,
        timeout_s: float | None = None,
        integration_timeout_s: float,
    ) -> None:
        self.spec = spec
        self.region = region
        self.environment = dict(environment)
        self.timeout_s = spec.timeout_s if timeout_s is None else timeout_s
        self.integration_timeout_s = integration_timeout_s
        self.environments_started = 0
        self._idle: queue.SimpleQueue[_Environment] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._all: set[_Environment] = set()
        self._closed = False
        starters = [threading.Thread(target=self._start) for _ in range(count)]
        for starter in starters:
            starter.start()
        for starter in starters:
            starter.join()
        if self._idle.qsize() != count:
            self.close()
            raise RuntimeError(f"{spec.logical_id}: {count - self._idle.qsize()} environment(s) did not start")

    def _start(self) -> None:
        with self._lock:
            if self._closed:
                return
            self.environments_started += 1
            environment = _Environment(self.spec, self.region, self.environment, self.environments_started)
            self._all.add(environment)
        if environment.ready():
            self._idle.put(environment)
            return
        with self._lock:
            self._all.discard(environment)
            if not self._closed:  # closing the stack stops environments that are still starting: no error
                log.error("%s's environment %s did not start", self.spec.logical_id, environment.process.name)
        environment.kill()

    def _discard(self, environment: _Environment, *, after_s: float = 0.0) -> None:
        """Throw an environment away (after it had `after_s` seconds to finish) and start a fresh one now."""
        with self._lock:
            self._all.discard(environment)

        def retire() -> None:
            if after_s > 0:
                environment.connection.poll(after_s)
            environment.kill()

        threading.Thread(target=retire, daemon=True).start()
        threading.Thread(target=self._start, daemon=True).start()

    def invoke(self, event: dict[str, Any], request_id: str) -> Invocation:
        """Run the handler on the event in an idle environment, no longer than the function's or the gateway's limit."""
        clocks = InvocationClocks.start(self.timeout_s, self.integration_timeout_s)
        try:
            environment = self._idle.get(timeout=max(0.0, clocks.integration - time.monotonic()))
        except queue.Empty:
            return Invocation(Outcome.INTEGRATION_TIMED_OUT)
        try:
            environment.connection.send((event, request_id, clocks.function - time.monotonic()))
            if environment.connection.poll(max(0.0, clocks.first - time.monotonic())):
                outcome, output = environment.connection.recv()
                self._idle.put(environment)
                return Invocation(outcome, output)
        except (EOFError, OSError):
            if not self._closed:  # else the stack is stopping and killed it
                log.error("%s's environment died during request %s", self.spec.logical_id, request_id)
                self._discard(environment)
            return Invocation(Outcome.FAILED)
        timed_out = clocks.timed_out(request_id)
        # Past the function's Timeout the environment goes now; past the integration timeout it runs on until then.
        self._discard(environment, after_s=max(0.0, clocks.function - time.monotonic()))
        return timed_out

    def close(self) -> None:
        """Stop every environment."""
        with self._lock:
            self._closed = True
            environments, self._all = self._all, set()
        for environment in environments:
            environment.kill()
