"""Fault injection for the local services: what is on, for how long, and how many calls each service saw.

A local service holds one FaultSwitch. It is set at start (`serve --endpoint-fault ...`, `--s3-fault ...`) and can
be switched while the stack runs through the service's control route, so one stack serves many tests:

    GET /_local/fault                      -> {"fault": "none", "delay_s": 0.0, "calls": 12}
    PUT /_local/fault {"fault": "hang"}    -> the same document, after the change; "calls" restarts at 0

The control route is local-only: no AWS service has it, and no SDK call can reach it by accident.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from churn_local.services.http_server import LocalHTTPServer

CONTROL_PATH = "/_local/fault"
NONE = "none"

# InvokeEndpoint faults and what SageMaker Runtime answers for each (botocore sagemaker-runtime service model).
ENDPOINT_FAULTS: Mapping[str, str] = {
    NONE: "answer normally",
    "slow": "answer normally after --fault-delay seconds",
    "hang": "accept the call and never answer",
    "throttle": "400 ThrottlingException",
    "not-ready": "429 ModelNotReadyException (a serverless endpoint scaling up)",
    "model-error": "424 ModelError (the container answered 500)",
    "unavailable": "503 ServiceUnavailable",
    "internal": "500 InternalFailure",
    "garbage-bytes": "200 with a body that is not UTF-8",
    "garbage-booleans": "200 with [true, false, ...] instead of scores",
    "garbage-count": "200 with one score fewer than the rows sent",
    "down": "nothing listens: connection refused (at start only)",
}
# GetObject faults and what S3 answers for each.
S3_FAULTS: Mapping[str, str] = {
    NONE: "answer normally",
    "hang": "accept GetObject and never answer",
    "deny": "403 AccessDenied",
    "missing": "404 NoSuchKey",
    "corrupt": "200 with bytes that are not the transformation",
}
# Faults only a restart can switch, because they are not answers of a running server.
START_ONLY = frozenset({"down"})


@dataclass(frozen=True)
class Fault:
    """The fault in force and the delay of a slow answer."""

    name: str = NONE
    delay_s: float = 0.0


NO_FAULT = Fault()


class FaultSwitch:
    """The current fault of one service and its call counter, safe to read and change from any thread."""

    def __init__(self, known: Mapping[str, str], fault: Fault = NO_FAULT) -> None:
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
        known: Mapping[str, str],
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


def help_text(known: Mapping[str, str]) -> str:
    """Describe the faults of one service for --help."""
    return "; ".join(f"{name}: {what}" for name, what in known.items())
