"""Invoke the function like a warm Lambda execution environment, its Timeout and API Gateway's 29 s enforced.

- The handler is imported once (the "init" phase) and called with a context shaped like the Python runtime's
  (awslambdaric's LambdaContext); an environment runs one invocation at a time (Lambda never sends a second event to
  a busy environment, and Powertools' resolver keeps the current event on its module-level router).
- The handler runs in the environment's own long-lived worker thread (one per environment, fed by a queue: no
  thread is started per invocation), so the caller can stop waiting at the deadline. When the function outlives
  its `Timeout`, Lambda logs "Task timed out after N seconds", the invocation fails (API Gateway answers 502) and the
  environment is thrown away; the next invocation gets a fresh one. When API Gateway's integration timeout (29 s,
  "Amazon API Gateway quotas") comes first, it answers 504 and the function runs on (Lambda Developer Guide,
  "Configure Lambda function timeout"). Locally a Python thread cannot be killed: the stuck call is abandoned, its
  result dropped, and the environment (its worker and its lock) replaced, so a hung invocation never wedges the
  ones after it.
SAM CLI's counterpart: aws/aws-sam-cli: samcli/local/lambdafn/runtime.py (it stops the container at the timeout).
"""

from __future__ import annotations

import enum
import importlib
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churn_local.lambda_runtime.context import LambdaContext, new_log_stream_name
from churn_local.template.provider import Application, FunctionSpec, TemplateError

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]


class Outcome(enum.Enum):
    """How an invocation ended, as API Gateway sees it."""

    RETURNED = "returned"
    FAILED = "failed"  # the handler raised: Lambda reports a function error
    FUNCTION_TIMED_OUT = "function timed out"  # past the function's Timeout
    INTEGRATION_TIMED_OUT = "integration timed out"  # past API Gateway's integration timeout


@dataclass(frozen=True)
class Invocation:
    """The end of one invocation: how it ended and, if it returned, what."""

    outcome: Outcome
    output: Any = None


@dataclass(frozen=True)
class InvocationClocks:
    """When one invocation must end: at the function's Timeout, or at API Gateway's integration timeout if sooner."""

    timeout_s: float
    integration_timeout_s: float
    started: float
    function: float  # past it, Lambda ends the invocation ("Task timed out")
    integration: float  # past it, API Gateway stops waiting (504)

    @classmethod
    def start(cls, timeout_s: float, integration_timeout_s: float) -> InvocationClocks:
        """Start both clocks now."""
        now = time.monotonic()
        return cls(timeout_s, integration_timeout_s, now, now + timeout_s, now + integration_timeout_s)

    @property
    def first(self) -> float:
        """Return the deadline that comes first: the invocation is waited for until then."""
        return min(self.function, self.integration)

    def timed_out(self, request_id: str) -> Invocation:
        """Log, as Lambda or API Gateway would, which limit an unfinished invocation passed; return that outcome."""
        if self.first >= self.function:
            log.error("request %s: Task timed out after %.2f seconds", request_id, self.timeout_s)
            return Invocation(Outcome.FUNCTION_TIMED_OUT)
        log.error("request %s: the integration timed out after %.2f seconds", request_id, self.integration_timeout_s)
        return Invocation(Outcome.INTEGRATION_TIMED_OUT)


class _Job:
    """One invocation handed to an environment's worker: the call, and where its end is left."""

    __slots__ = ("call", "finished", "result")

    def __init__(self, call: Callable[[], Invocation]) -> None:
        self.call = call
        self.finished = threading.Event()
        self.result: Invocation | None = None


class _Environment:
    """One execution environment: a lock that admits one invocation at a time, and the thread that runs them."""

    def __init__(self, name: str) -> None:
        self.lock = threading.Lock()
        self.log_stream_name = new_log_stream_name()
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def run(self, job: _Job) -> None:
        """Hand the job to the worker (the caller holds the lock)."""
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job.result = job.call()
            finally:
                job.finished.set()


class FunctionContainer:
    """One function's warm execution environment, replaced when an invocation times out."""

    def __init__(
        self,
        spec: FunctionSpec,
        handler: Handler,
        *,
        region: str,
        timeout_s: float | None = None,
        integration_timeout_s: float,
    ) -> None:
        self.spec = spec
        self.handler = handler
        self.region = region
        self.timeout_s = spec.timeout_s if timeout_s is None else timeout_s
        self.integration_timeout_s = integration_timeout_s
        self.environments_started = 1
        self._environment = _Environment(f"{spec.logical_id}-environment-1")
        self._swap = threading.Lock()

    def invoke(self, event: dict[str, Any], request_id: str) -> Invocation:
        """Run the handler on the event and wait for it, no longer than the function's or the gateway's limit."""
        clocks = InvocationClocks.start(self.timeout_s, self.integration_timeout_s)
        environment = self._environment
        # Waiting for a busy environment counts against API Gateway's clock, not against the function's.
        if not environment.lock.acquire(timeout=max(0.0, clocks.integration - time.monotonic())):
            return Invocation(Outcome.INTEGRATION_TIMED_OUT)
        context = lambda_context(
            self.spec, self.region, clocks.function - time.monotonic(), environment.log_stream_name
        )

        def call() -> Invocation:
            try:
                return Invocation(Outcome.RETURNED, self.handler(event, context))
            except Exception:
                # The traceback goes to the function's log; API Gateway only learns that it failed.
                log.exception("%s failed (request %s)", self.spec.logical_id, request_id)
                return Invocation(Outcome.FAILED)

        job = _Job(call)
        environment.run(job)
        if job.finished.wait(max(0.0, clocks.first - time.monotonic())) and job.result is not None:
            environment.lock.release()
            return job.result
        self._replace(environment)
        return clocks.timed_out(context.aws_request_id)

    def _replace(self, dead: _Environment) -> None:
        # The abandoned worker keeps the dead environment (and its lock) forever; the next invocation gets a fresh one.
        with self._swap:
            if self._environment is dead:
                self.environments_started += 1
                self._environment = _Environment(f"{self.spec.logical_id}-environment-{self.environments_started}")


def lambda_context(spec: FunctionSpec, region: str, timeout_s: float, log_stream_name: str) -> LambdaContext:
    """Return the context of one invocation of the function, with timeout_s left."""
    return LambdaContext(
        spec.function_name,
        timeout_s=timeout_s,
        memory_mb=spec.memory_mb,
        invoked_function_arn=spec.arn(region),
        log_stream_name=log_stream_name,
    )


def function_environment(application: Application, overrides: Mapping[str, str]) -> dict[str, str]:
    """Return the variables the function gets: overrides, else the template's resolved values, else os.environ.

    Overrides of variables the template does not declare are passed on too (e.g. AWS_ENDPOINT_URL_* to point the
    function at another local service).
    """
    resolved: dict[str, str] = dict(overrides)
    for spec in application.functions.values():
        for name, template_value in spec.environment.items():
            value = overrides.get(name, template_value if template_value is not None else os.environ.get(name))
            if value is None:
                raise TemplateError(
                    f"{spec.logical_id} needs {name}, which has no value until deployed: pass it as an override"
                )
            resolved[name] = value
    return resolved


def import_handler(spec: FunctionSpec) -> Handler:
    """Import `module.function` with the CodeUri folder first on sys.path, like the Lambda runtime's /var/task."""
    module_name, _, attribute = spec.handler.rpartition(".")
    code_dir = str(spec.code_uri)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    module = importlib.import_module(module_name)
    source = Path(getattr(module, "__file__", "") or "").resolve()
    if not source.is_relative_to(spec.code_uri):
        raise TemplateError(f"{module_name} was imported from {source}, not from {spec.code_uri}")
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise TemplateError(f"{spec.handler} is not a function")
    return handler  # type: ignore[no-any-return]
