"""Processes this tooling runs in the background (dockerd, the emulator's engine and endpoint): started detached, known
by pid, stopped by that pid only.

A pid is trusted only while /proc says it is still the process that was started (its command line holds the
marker given at start, or what the caller checks): a pid reused by another program is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

STOP_TIMEOUT_S = 20.0
# The processes this one started, until stopped: waited for then (no zombie, no "still running" warning).
_STARTED: dict[int, subprocess.Popen[bytes]] = {}


def start_detached(command: Sequence[str], environment: Mapping[str, str], log: Path, cwd: Path) -> int:
    """Start a command in its own session, its output appended to log; return its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(command),
            env=dict(environment),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
        )
    _STARTED[process.pid] = process
    return process.pid


def command_line(pid: int) -> list[str]:
    """Return a live process's arguments, or [] when it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return []
    return [] if state == "Z" else [part.decode() for part in raw.split(b"\0") if part]


def is_running(pid: int, marker: str) -> bool:
    """Tell whether pid is alive and still the process started with marker among its arguments."""
    return any(marker in part for part in command_line(pid))


def alive(pid: int, marker: str) -> bool:
    """Tell whether a process is still running: by its Popen when this process started it (between fork and exec
    /proc still shows this process's own command line), else by /proc and the marker."""
    started = _STARTED.get(pid)
    if started is not None:
        return started.poll() is None
    return is_running(pid, marker)


def stop(pid: int, marker: str, timeout_s: float = STOP_TIMEOUT_S) -> str:
    """Stop the process by pid (SIGTERM, then SIGKILL after timeout_s); return what happened."""
    if not alive(pid, marker):
        _STARTED.pop(pid, None)
        return "not running"
    said = terminate(pid, lambda: alive(pid, marker), timeout_s)
    started = _STARTED.pop(pid, None)
    if started is not None:
        started.wait(timeout=timeout_s)
    return said


def terminate(pid: int, running: Callable[[], bool], timeout_s: float = STOP_TIMEOUT_S) -> str:
    """Send SIGTERM, wait until running() is false, SIGKILL after timeout_s; return "stopped" or "killed"."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and running():
        _reap(pid)
        time.sleep(0.2)
    if running():
        os.kill(pid, signal.SIGKILL)
        return "killed"
    return "stopped"


def _reap(pid: int) -> None:
    # A child of this very process (the tests start the engine themselves) stays a zombie until waited for.
    if pid in _STARTED:
        return  # alive() polls it; stop() waits for it
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for entry in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(entry)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def listening(pid: int) -> set[tuple[str, int]]:
    """Return the (address, port) pairs the process listens on over TCP, IPv4 and IPv6, as `ss -ltnp` shows them."""
    inodes = _socket_inodes(pid)
    found: set[tuple[str, int]] = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        try:
            lines = Path(f"/proc/net/{table}").read_text(encoding="utf-8").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # State 0A is LISTEN; field 9 is the socket's inode.
            if fields[3] == "0A" and fields[9] in inodes:
                address, port = fields[1].split(":")
                found.add((_address(address, width), int(port, 16)))
    return found


def _address(hex_address: str, width: int) -> str:
    raw = bytes.fromhex(hex_address)
    if width == 8:
        return ".".join(str(byte) for byte in reversed(raw))
    # IPv6 in /proc is four little-endian 32-bit words.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    import ipaddress  # noqa: PLC0415 - IPv6 listeners are the rare case

    return str(ipaddress.IPv6Address(words))
