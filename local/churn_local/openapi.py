"""Write (or check) docs/openapi.json, the OpenAPI 3 document generated from the handler's routes and models.

The categorical fields are published as the categories of the bundled model's transformation (`artifacts/`,
trained first if missing, as `make serve` does): the same document the function serves at /swagger once it
has loaded that transformation.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from pathlib import Path

from churn_local.constants import PROJECT_ROOT, TRANSFORMATION_FILE
from churn_local.training import train

DOCUMENT = PROJECT_ROOT / "docs" / "openapi.json"
ARTIFACTS = PROJECT_ROOT / "artifacts"

# The handler reads its settings at import; the document does not depend on their values.
PLACEHOLDER_ENV = {
    "ENDPOINT_NAME": "churn-xgboost",
    "TRANSFORM_BUCKET": "churn-api-artifacts",
    "TRANSFORM_KEY": TRANSFORMATION_FILE,
    "THRESHOLD": "0.5",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def generate(artifacts: Path = ARTIFACTS) -> str:
    """Return the document as the handler's resolver describes itself (and serves at /swagger), as JSON."""
    for name, value in PLACEHOLDER_ENV.items():
        os.environ.setdefault(name, value)
    # After the placeholders: the handler module reads its settings when imported.
    from churn_api.app import app  # noqa: PLC0415 - after the placeholders above
    from churn_api.contract import categories_of  # noqa: PLC0415 - with the handler
    from churn_api.preprocessing import Transformation  # noqa: PLC0415 - with the handler

    if not (artifacts / TRANSFORMATION_FILE).is_file():
        print(f"no trained model in {artifacts}: training it", file=sys.stderr)
        train.train(out_dir=artifacts)
    saved = pickle.loads((artifacts / TRANSFORMATION_FILE).read_bytes())  # noqa: S301 - our own artifact
    categories = categories_of(Transformation.from_mapping(saved))
    app.categories = lambda: categories
    document = json.loads(app.get_openapi_json_schema())
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write docs/openapi.json, or with --check fail when it is out of date."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the checked-in document is stale")
    parser.add_argument("--out", type=Path, default=DOCUMENT)
    parser.add_argument("--artifacts", type=Path, default=ARTIFACTS, help="the trained model (default: artifacts/)")
    args = parser.parse_args(argv)
    fresh = generate(args.artifacts)
    if args.check:
        if not args.out.exists() or args.out.read_text(encoding="utf-8") != fresh:
            print(f"{args.out} is out of date: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(fresh, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
