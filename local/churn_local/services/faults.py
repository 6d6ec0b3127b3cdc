"""Fault injection for the local services: the one table of faults, what is on, and how many calls each service saw.

ENDPOINT_FAULTS and S3_FAULTS are the catalogue: each fault's name, what it does, and the AWS status, code and
message it answers with. The services (sagemaker_endpoint, s3_server) answer from them, `serve --help` and the
fault tables of docs/local.md are written from them (tests/unit/test_fault_table.py checks all four).

A local service holds one FaultSwitch. It is set at start (`serve --endpoint-fault ...`, `--s3-fault ...`) and can
be switched while the stack runs through the service's control route, so one stack serves many tests:

    GET /_local/fault                      -> {"fault": "none", "delay_s": 0.0, "calls": 12}
    PUT /_local/fault {"fault": "hang"}    -> the same document, after the change; "calls" restarts at 0

The control route is local-only: no AWS service has it, and no SDK call can reach it by accident.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from types import MappingProxyType

from churn_local.services.http_server import LocalHTTPServer

CONTROL_PATH = "/_local/fault"
NONE = "none"

# What a fault makes a service do. The services implement each behaviour; the table below says which fault has which.
ANSWER = "answer"  # answer normally
DELAY = "delay"  # answer normally, late
HANG = "hang"  # accept the call and never answer
ERROR = "error"  # answer the AWS error of the fault's status, code and message
GARBAGE = "garbage"  # answer 200 with a body that is not what the client asked for
REFUSE = "refuse"  # nothing listens: the connection is refused


@dataclass(frozen=True)
class FaultKind:
    """One fault a local service can inject: what it does, and the AWS answer it gives."""

    name: str
    behaviour: str
    description: str = ""
    status: int | None = None  # the HTTP status the AWS service answers
    code: str = ""  # its error code
    message: str = ""  # its error message; {endpoint} is the endpoint's name

    def __post_init__(self) -> None:
        if self.behaviour in (ERROR, GARBAGE) and self.status is None:
            raise ValueError(f"the {self.name} fault answers a status: name it")

    def summary(self, code: Callable[[str], str] = str) -> str:
        """Describe what the client gets, e.g. "429 ModelNotReadyException (a serverless endpoint scaling up)"."""
        if self.behaviour == ERROR:
            return f"{self.status} {code(self.code)}" + (f" ({self.description})" if self.description else "")
        if self.behaviour == GARBAGE:
            return f"{self.status} with {self.description}"
        return self.description


def _table(*kinds: FaultKind) -> Mapping[str, FaultKind]:
    return MappingProxyType({kind.name: kind for kind in kinds})


# InvokeEndpoint faults, answered as SageMaker Runtime answers (botocore sagemaker-runtime service model).
ENDPOINT_FAULTS = _table(
    FaultKind(NONE, ANSWER, "answer normally"),
    FaultKind("slow", DELAY, "answer normally after --fault-delay seconds (default 1)"),
    FaultKind("hang", HANG, "accept the call and never answer (the connection stays open)"),
    FaultKind("throttle", ERROR, status=400, code="ThrottlingException", message="Rate exceeded"),
    FaultKind(
        "not-ready",
        ERROR,
        "a serverless endpoint scaling up",
        status=429,
        code="ModelNotReadyException",
        message="Model for endpoint {endpoint} is not ready",
    ),
    # SageMaker wraps the container's own answer: sagemaker_endpoint.model_error writes the message.
    FaultKind("model-error", ERROR, "the container answered 500", status=424, code="ModelError"),
    FaultKind("unavailable", ERROR, status=503, code="ServiceUnavailable", message="Service is unavailable"),
    FaultKind("internal", ERROR, status=500, code="InternalFailure", message="An internal failure occurred"),
    FaultKind("garbage-bytes", GARBAGE, "a body that is not UTF-8", status=200),
    FaultKind("garbage-booleans", GARBAGE, "[true, false, ...] instead of scores", status=200),
    FaultKind("garbage-count", GARBAGE, "one score fewer than the rows sent", status=200),
    FaultKind("down", REFUSE, "nothing listens: connection refused (at start only)"),
)
# GetObject faults, answered as S3 answers (S3 API Reference, "Error responses").
S3_FAULTS = _table(
    FaultKind(NONE, ANSWER, "answer normally"),
    FaultKind("hang", HANG, "accept GetObject and never answer"),
    FaultKind("deny", ERROR, status=403, code="AccessDenied", message="Access Denied"),
    FaultKind("missing", ERROR, status=404, code="NoSuchKey", message="The specified key does not exist."),
    FaultKind("corrupt", GARBAGE, "bytes that are not the transformation", status=200),
)
# Faults only a restart can switch, because they are not answers of a running server.
START_ONLY = frozenset(kind.name for kind in ENDPOINT_FAULTS.values() if kind.behaviour == REFUSE)


@dataclass(frozen=True)
class Fault:
    """The fault in force and the delay of a slow answer."""

    name: str = NONE
    delay_s: float = 0.0


NO_FAULT = Fault()


class FaultSwitch:
    """The current fault of one service and its call counter, safe to read and change from any thread."""

    def __init__(self, known: Mapping[str, FaultKind], fault: Fault = NO_FAULT) -> None:
        self.known = known
        self._lock = threading.Lock()
        self._fault = self._checked(fault)
        self._calls = 0
        # Set when the service stops, so hung answers give their thread back.
        self.stopping = threading.Event()

    def _checked(self, fault: Fault) -> Fault:
        if fault.name not in self.known:
            raise ValueError(f"unknown fault {fault.name!r}; choose from {sorted(self.known)}")
        if fault.delay_s < 0:
            raise ValueError("the delay must not be negative")
        return fault

    @property
    def fault(self) -> Fault:
        """Return the fault in force."""
        with self._lock:
            return self._fault

    def called(self) -> Fault:
        """Count one call and return the fault it gets."""
        with self._lock:
            self._calls += 1
            return self._fault

    def hang(self) -> None:
        """Block like a service that accepted the call and never answers (until the service stops)."""
        self.stopping.wait()

    def document(self) -> bytes:
        """Return the control route's JSON document."""
        with self._lock:
            state = {"fault": self._fault.name, "delay_s": self._fault.delay_s, "calls": self._calls}
        return json.dumps(state).encode("utf-8")

    def change(self, body: bytes) -> bytes:
        """Apply a control request's JSON ({"fault": ..., "delay_s": ...}), restart the count, return the state."""
        request = json.loads(body or b"{}")
        if not isinstance(request, dict):
            raise ValueError("send a JSON object")
        fault = self._checked(Fault(str(request.get("fault", NONE)), float(request.get("delay_s", 0.0))))
        if fault.name in START_ONLY:
            raise ValueError(f"{fault.name} can only be chosen at start")
        with self._lock:
            self._fault, self._calls = fault, 0
        return self.document()


class FaultInjectingServer(LocalHTTPServer):
    """A local service with a fault switch; closing it releases the answers it holds back."""

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        known: Mapping[str, FaultKind],
        fault: Fault,
        idle_timeout_s: float,
    ) -> None:
        self.faults = FaultSwitch(known, fault)
        super().__init__(address, handler, idle_timeout_s)

    def server_close(self) -> None:
        """Release hung answers, then close."""
        self.faults.stopping.set()
        super().server_close()

    def control(self, method: str, body: bytes) -> tuple[int, bytes]:
        """Answer the control route: GET reads the switch, PUT changes it; a bad change is a JSON 400."""
        if method != "PUT":
            return 200, self.faults.document()
        try:
            return 200, self.faults.change(body)
        except ValueError as exc:
            return 400, json.dumps({"message": str(exc)}).encode()


def help_text(known: Mapping[str, FaultKind]) -> str:
    """Describe the faults of one service for --help."""
    return "; ".join(f"{name}: {kind.summary()}" for name, kind in known.items())


def documented_rows(known: Mapping[str, FaultKind]) -> list[str]:
    """Return the rows of docs/local.md's table of one service's faults (all but none)."""
    return [f"| `{name}` | {kind.summary(lambda code: f'`{code}`')} |" for name, kind in known.items() if name != NONE]
