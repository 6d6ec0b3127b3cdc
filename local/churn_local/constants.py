"""One home for the local stack's constants: where things are, what the artifacts are called, which fake account."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = PROJECT_ROOT / "template.yaml"
DEFAULT_ARTIFACTS = PROJECT_ROOT / "artifacts"

# The files `make train` writes and the stack serves (the drift baseline: what the model learned from).
TRANSFORMATION_FILE = "transformation.sav"
MODEL_ARCHIVE = "model.tar.gz"
METADATA_FILE = "metadata.json"
BASELINE_FILE = "baseline.json"
ARTIFACT_FILES = (TRANSFORMATION_FILE, MODEL_ARCHIVE, METADATA_FILE, BASELINE_FILE)
# The one member of model.tar.gz the built-in XGBoost container loads from /opt/ml/model.
MODEL_MEMBER = "xgboost-model"

# The SageMaker built-in XGBoost image version `make train` packages the model for, and the SDK's registry of that
# image's ECR account per region (provenance in data/reference/README.md), from which template.yaml's mapping is made.
XGBOOST_IMAGE_VERSION = "3.2-0"
XGBOOST_IMAGE_REGISTRY = PROJECT_ROOT / "data" / "reference" / "sagemaker-xgboost-images.json"

# The account, region and stack name the local services pretend to be in (AWS's documentation account id).
LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_REGION = "us-east-1"
LOCAL_STACK_NAME = "churn-api-local"

# API Gateway's maximum integration timeout for a REST API (Developer Guide, "Amazon API Gateway quotas").
INTEGRATION_TIMEOUT_S = 29.0


def function_arn(function_name: str, region: str = LOCAL_REGION, account_id: str = LOCAL_ACCOUNT_ID) -> str:
    """Return the unqualified ARN Lambda gives a function."""
    return f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
