"""Start and stop this machine's own Docker daemon for `sam local`, idempotently; no image registry is ever used.

SAM CLI cannot run a function in the host's network namespace: `--docker-network host` only skips connecting the
container to a network (aws/aws-sam-cli: samcli/local/docker/container.py:
`if self.network_id and self.network_id != "host"`), so the container stays on the daemon's default bridge and
SAM CLI reaches the runtime emulator through a port published on 127.0.0.1. The daemon therefore keeps its own
bridge, but with `--iptables=false --ip-forward=false`: no NAT and no routing, so a container reaches this machine's
bridge address and nothing beyond it.

    python -m churn_local.containers.dockerd start|stop|status
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from churn_local.containers import processes

# No NAT, no forwarding: containers reach the host's own bridge address only (published ports use docker-proxy).
# Published ports bind to 127.0.0.1 unless a caller says otherwise.
DAEMON_ARGS = ("--iptables=false", "--ip-forward=false", "--ip-masq=false", "--ip=127.0.0.1")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0


class DockerUnavailable(RuntimeError):
    """No container runtime can run here; the message says why (tests skip with it, except in CI)."""


def state_dir() -> Path:
    """Return the per-user folder that remembers the daemon this helper started (never tracked)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "churn-api" / "dockerd"


def docker_cli() -> str:
    """Return the docker client's path."""
    path = shutil.which("docker")
    if path is None:
        raise DockerUnavailable("the docker client is not installed (apt-get install docker.io)")
    return path


def answers(timeout_s: float = 10.0) -> bool:
    """Tell whether a Docker daemon answers on the default socket."""
    try:
        done = subprocess.run(
            [docker_cli(), "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except (DockerUnavailable, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def bridge_gateway() -> str:
    """Return the host's address on the daemon's default bridge: where containers reach this machine's services."""
    done = subprocess.run(
        [docker_cli(), "network", "inspect", "bridge", "--format", "{{json .Options}}"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if done.returncode != 0:
        raise DockerUnavailable(f"the daemon has no default bridge: {done.stderr.strip()}")
    name = json.loads(done.stdout).get("com.docker.network.bridge.name", "docker0")
    return _interface_address(name)


def _interface_address(name: str) -> str:
    # SIOCGIFADDR: the interface's IPv4 address (the daemon's IPAM does not always report its gateway).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            packed = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))
        except OSError as exc:
            raise DockerUnavailable(f"the daemon's bridge {name} has no IPv4 address: {exc}") from exc
    return socket.inet_ntoa(packed[20:24])


def ensure_running() -> str:
    """Start dockerd unless one answers already; return what happened. Raise DockerUnavailable when it cannot run."""
    if answers():
        return "running"
    dockerd = shutil.which("dockerd") or next((p for p in ("/usr/sbin/dockerd",) if Path(p).exists()), None)
    if dockerd is None:
        raise DockerUnavailable("dockerd is not installed (apt-get install docker.io)")
    if os.geteuid() != 0:
        raise DockerUnavailable("dockerd needs root here (no daemon answers on the default socket)")
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "dockerd.log").open("ab") as log:
        process = subprocess.Popen(
            [dockerd, *DAEMON_ARGS], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
    (folder / "pid").write_text(str(process.pid), encoding="utf-8")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DockerUnavailable(f"dockerd exited with {process.returncode}: see {folder / 'dockerd.log'}")
        if answers(timeout_s=2):
            return "started"
        time.sleep(0.3)
    raise DockerUnavailable(f"dockerd did not answer within {START_TIMEOUT_S:g} s: see {folder / 'dockerd.log'}")


def stop() -> str:
    """Stop the daemon this helper started (never one started otherwise); return what happened."""
    pid_file = state_dir() / "pid"
    try:
        pid = int(pid_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "not started by this helper"
    if not _is_dockerd(pid):
        pid_file.unlink(missing_ok=True)
        return "not running"
    processes.terminate(pid, lambda: _is_dockerd(pid), STOP_TIMEOUT_S)
    pid_file.unlink(missing_ok=True)
    return "stopped"


def _is_dockerd(pid: int) -> bool:
    command = processes.command_line(pid)
    return bool(command) and command[0].endswith("dockerd")


def main(argv: Sequence[str] | None = None) -> int:
    """Start, stop or report on the daemon."""
    parser = argparse.ArgumentParser(
        prog="python -m churn_local.containers.dockerd", description=__doc__.splitlines()[0]
    )
    parser.add_argument("action", choices=("start", "stop", "status"))
    action = parser.parse_args(argv).action
    try:
        if action == "start":
            print(f"dockerd: {ensure_running()} (containers reach this machine at {bridge_gateway()})")
        elif action == "stop":
            print(f"dockerd: {stop()}")
        else:
            print(f"dockerd: {'answers' if answers() else 'not running'}")
    except DockerUnavailable as exc:
        print(f"dockerd: unavailable: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
