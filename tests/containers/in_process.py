"""Invoke the handler in this process, as make serve's stack does, on events; print each answer as a JSON line.

    python -m tests.containers.in_process --artifacts DIR --s3 URL --endpoint URL EVENT.json...

A process of its own, so that the handler's module is imported with this stack's environment only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from churn_local import apigw
from churn_local.constants import LOCAL_REGION, TEMPLATE
from churn_local.containers.sam_local import FUNCTION
from churn_local.release import pins
from churn_local.stack.local_stack import StackSettings, local_aws_environment
from churn_local.template.provider import Application

ANSWER = "answer: "


def main() -> None:
    """Load the handler against the given S3 and endpoint, then print its answer to every event."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--s3", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("events", nargs="+", type=Path)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    parameters = StackSettings(artifacts=args.artifacts).served_parameters(pins.read_artifacts(args.artifacts))
    os.environ.update(local_aws_environment(args.s3, args.endpoint))
    application = Application.from_template(TEMPLATE, parameters, LOCAL_REGION)
    api = apigw.LocalApi(application, region=LOCAL_REGION)
    api.load({})
    container = api.containers[FUNCTION]
    for path in args.events:
        event = json.loads(path.read_text(encoding="utf-8"))
        # The handler logs JSON lines to stdout too: an answer is marked.
        print(ANSWER + json.dumps(container.invoke(event, "in-process").output), flush=True)


if __name__ == "__main__":
    main()
