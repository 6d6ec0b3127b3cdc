"""`make deploy-emulated` and `make undeploy-emulated`: the stack deployed with `sam deploy` into MiniStack, and gone.

    python -m churn_local.emulator.deploy up [--stack churn-api] [--port 4566] [--parameter Name=Value ...]
    python -m churn_local.emulator.deploy down        # sam delete every stack deployed, stop what up started
    python -m churn_local.emulator.deploy settings    # the engine's settings, each with its reason
    python -m churn_local.emulator.deploy exec -- CMD # run CMD with the standard AWS variables pointing at the engine

`up` starts the engine and the local SageMaker endpoint unless they run (churn_local.emulator.emulated), publishes
artifacts/ into the engine's S3 with `make publish`'s module, runs `sam build` (samconfig's cached build, as
`make build`) and `sam deploy` with the samconfig environment "default", then prints the API's URL and the stack's
name. Its state (pids, ports, the stacks, logs) is in .churn-api/emulated/ (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from churn_local.constants import DEFAULT_ARTIFACTS, PROJECT_ROOT
from churn_local.containers import dockerd
from churn_local.containers.sam_build import SamBuildError, sam_build
from churn_local.emulator import engine
from churn_local.emulator.emulated import Emulated, EmulatorError
from churn_local.release import outputs

DEFAULT_STACK = "churn-api"
BUILD_DIR = PROJECT_ROOT / ".aws-sam" / "build"


def parameter(text: str) -> tuple[str, str]:
    """Parse one Name=Value template parameter."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not Name=Value")
    return name, value


def first_answer(url: str) -> tuple[int, str]:
    """POST the reference customer (events/direct-reference.json) once; return the status and the body."""
    body = (PROJECT_ROOT / "events" / "direct-reference.json").read_bytes()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(f"{url}/predict", body, headers, method="POST")  # noqa: S310 - http only
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - the engine on loopback
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def up(args: argparse.Namespace) -> int:
    """Start, publish, build, deploy; print the URL."""
    started = time.perf_counter()
    emulated = Emulated()
    emulated.start(port=args.port, artifacts=args.artifacts, concurrency=args.concurrency)
    pins = emulated.publish(args.artifacts)
    print(f"published to s3://{pins['TransformBucket']}/{pins['TransformKey'].rsplit('/', 1)[0]}/ in the engine")
    if not args.no_build:
        print("sam build ...", flush=True)
        try:
            sam_build(BUILD_DIR, cached=True)
        except SamBuildError as exc:
            raise EmulatorError(str(exc)) from exc
    print(f"sam deploy of {args.stack} into the engine ...", flush=True)
    deployed = time.perf_counter()
    stack = emulated.deploy(args.stack, BUILD_DIR, args.artifacts, dict(args.parameter), args.timeout)
    done = time.perf_counter()
    url = stack.api_url(emulated.client_environment["AWS_ENDPOINT_URL"])
    print(f"\n  stack    {stack.name} ({stack.status}; sam deploy {done - deployed:.1f} s)")
    print(f"  API      {url}")
    status, answer = first_answer(url)
    print(f"  first answer to the reference customer: {status} {answer} ({time.perf_counter() - started:.1f} s in all)")
    print(f"           POST {url}/predict    (the stack's own URL: {stack.outputs['PredictUrl']})")
    print(f"\n  make e2e STACK={stack.name} EMULATED=1     the end-to-end tests against it")
    print("  make undeploy-emulated                   sam delete, then stop the engine and the endpoint\n")
    return 0


def down(args: argparse.Namespace) -> int:
    """Delete every stack deployed into the engine, then stop what `up` started."""
    del args
    emulated = Emulated()
    if emulated.record is None:
        print("nothing to undeploy: the emulator was not started here")
        return 0
    failed = False
    if emulated.running():
        cloudformation = emulated.client("cloudformation")
        for name in list(emulated.record.stacks):
            try:
                emulated.delete(name)
                outputs.describe(cloudformation, name)
            except outputs.StackNotFound:
                print(f"sam delete {name}: gone")
            except EmulatorError as exc:
                failed = True
                print(f"sam delete {name}: {exc}", file=sys.stderr)
            else:
                failed = True
                print(f"sam delete {name}: the stack is still there", file=sys.stderr)
    for line in emulated.stop():
        print(line)
    return 1 if failed else 0


def settings(args: argparse.Namespace) -> int:
    """Print the engine's settings, each with its reason, and its own health document when it runs."""
    del args
    emulated = Emulated()
    record = emulated.record
    shown = record.settings() if record else engine.EngineSettings(engine.DEFAULT_PORT, ("127.0.0.1",), "<endpoint>")
    print(f"MiniStack {engine.installed_version()} settings (environment of its process):")
    print("\n".join(engine.settings_lines(shown)))
    if record and emulated.running():
        print(f"\nits own health document: {engine.health(shown.url)}")
    return 0


def run_with_environment(args: argparse.Namespace) -> int:
    """Run a command with the standard AWS variables pointing at the running engine."""
    emulated = Emulated()
    if not emulated.running():
        print("error: the emulator is not running: run make deploy-emulated first", file=sys.stderr)
        return 1
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        print("error: give a command after --", file=sys.stderr)
        return 2
    os.execvpe(command[0], command, {**emulated.environment(), "CHURN_E2E_ENGINE": engine_name()})  # noqa: S606 - the user's own command


def engine_name() -> str:
    """Return the engine's name and version, as the end-to-end tests key known differences by."""
    return f"ministack {engine.installed_version()}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one of up, down, settings, exec."""
    parser = argparse.ArgumentParser(prog="python -m churn_local.emulator.deploy", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    start = verbs.add_parser("up", help="start the engine, publish, sam build, sam deploy")
    start.add_argument("--stack", default=DEFAULT_STACK, help="the stack's name (default: %(default)s)")
    start.add_argument("--port", type=int, default=engine.DEFAULT_PORT, help="the engine's port (default: %(default)s)")
    start.add_argument("--artifacts", type=lambda text: Path(text).resolve(), default=DEFAULT_ARTIFACTS)
    start.add_argument("--parameter", type=parameter, action="append", default=[], help="Name=Value, repeatable")
    start.add_argument("--concurrency", type=int, default=engine.DEFAULT_CONCURRENCY, help="function containers")
    start.add_argument("--timeout", type=float, default=600.0, help="seconds before a hung sam deploy is killed")
    start.add_argument("--no-build", action="store_true", help="deploy .aws-sam/build as it is")
    start.set_defaults(run=up)
    verbs.add_parser("down", help="sam delete every stack, stop the engine and the endpoint").set_defaults(run=down)
    verbs.add_parser("settings", help="the engine's settings").set_defaults(run=settings)
    execute = verbs.add_parser("exec", help="run a command with the AWS variables pointing at the engine")
    execute.add_argument("command", nargs=argparse.REMAINDER)
    execute.set_defaults(run=run_with_environment)
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except (EmulatorError, dockerd.DockerUnavailable, FileNotFoundError, TimeoutError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if args.verb == "up" and Emulated().running():
            print("the engine and the endpoint keep running: make undeploy-emulated stops them", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
