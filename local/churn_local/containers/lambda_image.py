"""Build a Lambda python3.13 runtime image from Debian's packages and PyPI, never from a registry; cached by content.

The image is what `sam local invoke/start-api --invoke-image TAG --skip-pull-image` runs the function in. SAM CLI
adds its runtime interface emulator (/var/rapid) and the layers (/opt) on top and mounts the code at /var/task.

    python -m churn_local.containers.lambda_image            # build unless the tag exists; print the tag
    python -m churn_local.containers.lambda_image --tag      # print the tag the current inputs give, build nothing

The tag carries a key made of every build input (this file, the Debian suite and packages, the runtime's pins and
constraints.txt): the same inputs give the same tag, found and reused; a changed input gives a new one. The
debootstrap root file system is cached per user (~/.cache/churn-api/lambda-image), so a new runtime pin costs a pip
install, not a debootstrap. What differs from the official image (public.ecr.aws/lambda/python:3.13) is listed in
DIFFERENCES and in docs/local.md "What it takes, and why".
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from churn_local.constants import PROJECT_ROOT
from churn_local.containers.dockerd import DockerUnavailable, docker_cli, state_dir

REPOSITORY = "churn-lambda-python"
# Every image built on ours (SAM CLI's, with the layers) inherits this label.
KEY_LABEL = "churn-api.image-key"
# Debian 13: Python 3.13 (the official image has CPython 3.13 on Amazon Linux 2023).
SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3.13",)
# The runtime client from PyPI, and the SDK the managed runtime ships, at the versions the project is tested with.
RUNTIME_REQUIREMENTS = ("awslambdaric==4.2.2", "boto3", "botocore", "s3transfer")
CONSTRAINTS = PROJECT_ROOT / "constraints.txt"
# The managed runtime's search path: the function, then its layers, then the runtime's own packages (boto3 last, so
# a function or layer that bundles its own wins, as in Lambda).
BOOTSTRAP = """#!/bin/sh
# The runtime's entry: SAM CLI's emulator (aws-lambda-rie) runs this with _HANDLER set from the template's Handler.
export PYTHONPATH=/var/task:/opt/python/lib/python3.13/site-packages:/opt/python:/var/runtime
exec /var/lang/bin/python3.13 -m awslambdaric "$_HANDLER"
"""
# The environment Lambda sets for python3.13 that a function can see (Lambda docs, "Defined runtime environment
# variables"); SAM CLI adds the AWS_LAMBDA_* ones and the template's.
ENVIRONMENT = {
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
    "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
    "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
}
# What the build adds to Debian's root file system.
OVERLAY = ("./var/runtime", "./var/lang", "./var/task")
DIFFERENCES = (
    "OS: Debian 13 (trixie) minbase, glibc 2.41; the official image is Amazon Linux 2023, glibc 2.34",
    "Python: Debian's CPython 3.13 (/usr/bin/python3.13, linked from /var/lang/bin); official: AWS's own build",
    "runtime client: awslambdaric from PyPI; official: the same client, bundled",
    "boto3/botocore: constraints.txt's versions; official: whatever the runtime ships that month",
    "the function runs as root in SAM CLI's container; in Lambda as an unprivileged user",
    "/opt is writable in the container (SAM CLI copies the layers in); read-only in Lambda. /var/task is mounted "
    "read-only by SAM CLI, as in Lambda",
)


def cache_dir() -> Path:
    """Return the per-user cache of debootstrap root file systems (never tracked)."""
    return state_dir().parent / "lambda-image"


def rootfs_key() -> str:
    """Return the key of the debootstrap root file system: suite, mirror and packages."""
    return _digest([SUITE, MIRROR, *PACKAGES])[:16]


def image_key() -> str:
    """Return the key of the image: every input of the build."""
    parts = [rootfs_key(), *RUNTIME_REQUIREMENTS, BOOTSTRAP, repr(sorted(ENVIRONMENT.items()))]
    parts += [Path(__file__).read_text(encoding="utf-8"), CONSTRAINTS.read_text(encoding="utf-8")]
    return _digest(parts)[:12]


def image_tag() -> str:
    """Return the tag the current inputs give (what `--invoke-image` names)."""
    return f"{REPOSITORY}:3.13-{image_key()}"


def _digest(parts: Sequence[str]) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode("utf-8"))
        hasher.update(b"\0")
    return hasher.hexdigest()


def image_exists(tag: str) -> bool:
    """Tell whether the local daemon holds the tag."""
    done = subprocess.run([docker_cli(), "image", "inspect", tag], capture_output=True, timeout=30, check=False)
    return done.returncode == 0


def prune_superseded() -> None:
    """Remove the untagged images left on top of ours: SAM CLI rebuilds its layer image at every start (the layer is
    defined in the template) and moves its tag, leaving the last one behind (about 180 MB each)."""
    subprocess.run(
        [docker_cli(), "image", "prune", "--force", "--filter", f"label={KEY_LABEL}"],
        capture_output=True,
        timeout=120,
        check=False,
    )


def ensure_image(say: object = print) -> str:
    """Return the tag, building the image first unless the daemon already has it."""
    tag = image_tag()
    if image_exists(tag):
        return tag
    with _lock():
        if not image_exists(tag):
            _build(tag, say if callable(say) else print)
            _remove_other_tags(tag)
    return tag


def _remove_other_tags(tag: str) -> None:
    # Images of earlier inputs are never used again; one a container still uses stays (no --force).
    listed = subprocess.run(
        [docker_cli(), "images", REPOSITORY, "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    for other in set(listed.stdout.split()) - {tag}:
        subprocess.run([docker_cli(), "rmi", other], capture_output=True, timeout=60, check=False)


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    # Two test sessions (or a test and make sam-local) must not debootstrap into the same folder at once.
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_rootfs(say: object = print) -> Path:
    """Return the cached debootstrap root file system, creating it first if missing (about a minute)."""
    rootfs = cache_dir() / f"rootfs-{rootfs_key()}"
    if (rootfs / ".complete").exists():
        return rootfs
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        raise DockerUnavailable("debootstrap is not installed (apt-get install debootstrap)")
    if callable(say):
        say(f"debootstrap {SUITE} (minbase + {', '.join(PACKAGES)}) into {rootfs} ...")
    partial = rootfs.with_name(rootfs.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run(
        [debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(partial), MIRROR],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=900,
    )
    # Downloaded packages and indexes are not part of a runtime.
    for leftovers in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (partial / leftovers).glob("*"):
            if entry.is_file():
                entry.unlink()
    (partial / ".complete").write_text(SUITE, encoding="utf-8")
    shutil.rmtree(rootfs, ignore_errors=True)
    partial.rename(rootfs)
    return rootfs


def _build(tag: str, say: object) -> None:
    rootfs = ensure_rootfs(say)
    if callable(say):
        say(f"building {tag}: {', '.join(RUNTIME_REQUIREMENTS)} (-c constraints.txt) into /var/runtime ...")
    with tempfile.TemporaryDirectory(prefix="churn-lambda-image-") as staging:
        overlay = Path(staging)
        _stage_runtime(overlay)
        changes = [f"ENV {name}={value}" for name, value in ENVIRONMENT.items()]
        changes += ["WORKDIR /var/task", f"LABEL {KEY_LABEL}={image_key()}", f"LABEL churn-api.suite={SUITE}"]
        # One tar stream: the cached root file system, then the runtime's folders, which Debian does not have
        # (docker import refuses a path twice; .complete is the cache's marker).
        tar = subprocess.Popen(
            [
                "tar",
                "--numeric-owner",
                "-c",
                "-C",
                str(rootfs),
                "--exclude=./.complete",
                ".",
                "-C",
                str(overlay),
                *OVERLAY,
            ],
            stdout=subprocess.PIPE,
        )
        imported = subprocess.run(
            [docker_cli(), "import", *(arg for change in changes for arg in ("--change", change)), "-", tag],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert tar.stdout is not None  # noqa: S101 - narrows the type: stdout=PIPE always makes a file
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise RuntimeError(f"docker import of {tag} failed: {imported.stderr.strip()}")


def _stage_runtime(overlay: Path) -> None:
    runtime = overlay / "var" / "runtime"
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-warn-script-location", "--target", str(runtime), "--only-binary=:all:", "--implementation", "cp",
            "--python-version", "3.13",
            "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64",
            "-c", str(CONSTRAINTS), *RUNTIME_REQUIREMENTS,
        ],
        check=True,
        timeout=600,
    )  # fmt: skip
    bootstrap = runtime / "bootstrap"
    bootstrap.write_text(BOOTSTRAP, encoding="utf-8")
    bootstrap.chmod(0o755)
    lang = overlay / "var" / "lang" / "bin"
    lang.mkdir(parents=True)
    for name in ("python3.13", "python3", "python"):
        (lang / name).symlink_to("/usr/bin/python3.13")
    (overlay / "var" / "task").mkdir()


def main(argv: Sequence[str] | None = None) -> int:
    """Print the image's tag, building it first unless asked not to or it exists."""
    parser = argparse.ArgumentParser(
        prog="python -m churn_local.containers.lambda_image", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--tag", action="store_true", help="print the tag the inputs give and build nothing")
    parser.add_argument("--differences", action="store_true", help="list what differs from the official image")
    args = parser.parse_args(argv)
    if args.differences:
        print("\n".join(f"- {line}" for line in DIFFERENCES))
        return 0
    if args.tag:
        print(image_tag())
        return 0

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        print(ensure_image(say))
    except (DockerUnavailable, subprocess.CalledProcessError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
