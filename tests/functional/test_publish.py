"""`make publish` against moto's real S3 server over HTTP: content-addressed keys, no overwrite, the printed values."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from churn_api.budget import Deadline
from churn_api.integrity import Expectations, sha256_hex
from churn_api.preprocessing import TransformationStore
from churn_local.release import pins, publish
from churn_local.release.state import load_state
from churn_local.training.dataset import load
from churn_local.training.transformation import dumps, fit_transformation
from tests.functional.conftest import PUBLISH_BUCKET as BUCKET
from tests.template.conftest import load_template


def printed_overrides(output: str) -> dict[str, str]:
    """Parse the printed `sam deploy --parameter-overrides ...` line."""
    (line,) = [line for line in output.splitlines() if line.startswith("sam deploy --parameter-overrides ")]
    pairs = shlex.split(line.removeprefix("sam deploy --parameter-overrides "))
    return dict(pair.split("=", 1) for pair in pairs)


def test_publish_uploads_under_the_content_digest_and_prints_parameters_the_template_accepts(
    s3_env: Any, artifacts: Path, trained_metadata: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish.main(["--bucket", BUCKET, "--prefix", "churn-api", "--artifacts", str(artifacts)]) == 0
    values = printed_overrides(capsys.readouterr().out)
    digest = pins.read_artifacts(artifacts).digest
    keys = {o["Key"] for o in s3_env.list_objects_v2(Bucket=BUCKET, Prefix=f"churn-api/{digest}/")["Contents"]}
    reference = (artifacts / "reference.json").read_bytes()
    reference_key = f"churn-api/{digest}/reference-{sha256_hex(reference)[:16]}.json"
    assert keys == {f"churn-api/{digest}/{name}" for name in pins.ARTIFACTS} | {reference_key}
    uploaded = {f"churn-api/{digest}/{name}": (artifacts / name).read_bytes() for name in pins.ARTIFACTS}
    for key, local in {**uploaded, reference_key: reference}.items():
        assert s3_env.get_object(Bucket=BUCKET, Key=key)["Body"].read() == local, key
    assert values == {
        "EndpointName": "churn-xgboost",
        "TransformBucket": BUCKET,
        "TransformKey": f"churn-api/{digest}/transformation.sav",
        "TransformSha256": sha256_hex((artifacts / "transformation.sav").read_bytes()),
        "FeatureSignature": trained_metadata["features"]["signature"],
        "ModelDataUrl": f"s3://{BUCKET}/churn-api/{digest}/model.tar.gz",
        "ReferenceKey": reference_key,
        "ReferenceSha256": sha256_hex(reference),
        "ModelVersion": trained_metadata["model_version"],
        "ModelThreshold": repr(trained_metadata["threshold"]),
        "DriftBaselineKey": f"churn-api/{digest}/baseline.json",
        "DriftBaselineSha256": sha256_hex((artifacts / "baseline.json").read_bytes()),
    }
    declared = load_template()["Parameters"]
    assert set(values) <= set(declared)


def test_the_published_transformation_passes_the_functions_checks_with_the_printed_pins(
    s3_env: Any, artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    publish.main(["--bucket", BUCKET, "--artifacts", str(artifacts)])
    values = printed_overrides(capsys.readouterr().out)
    pins = Expectations(sha256=values["TransformSha256"], feature_signature=values["FeatureSignature"])
    store = TransformationStore(s3_env, values["TransformBucket"], values["TransformKey"], expected=pins)
    assert store.get(Deadline.after(10)).n_features == 103


def test_publishing_again_uploads_nothing_and_prints_the_same_values(
    s3_env: Any, artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    publish.main(["--bucket", BUCKET, "--artifacts", str(artifacts)])
    first = capsys.readouterr().out
    before = {o["Key"]: o["LastModified"] for o in s3_env.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert publish.main(["--bucket", BUCKET, "--artifacts", str(artifacts)]) == 0
    second = capsys.readouterr().out
    after = {o["Key"]: o["LastModified"] for o in s3_env.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert after == before
    assert second.count(": already there") == len(pins.ARTIFACTS) + 1 and ": uploaded" not in second
    assert printed_overrides(second) == printed_overrides(first)


def test_an_existing_object_with_other_content_is_never_overwritten(
    s3_env: Any, artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = pins.read_artifacts(artifacts).digest
    squatted = f"squat/{digest}/model.tar.gz"
    s3_env.put_object(Bucket=BUCKET, Key=squatted, Body=b"someone else's model")
    assert publish.main(["--bucket", BUCKET, "--prefix", "squat", "--artifacts", str(artifacts)]) == 1
    assert "exists with other content" in capsys.readouterr().err
    assert s3_env.get_object(Bucket=BUCKET, Key=squatted)["Body"].read() == b"someone else's model"


def test_the_conditional_put_refuses_an_object_that_appeared_after_the_head(s3_env: Any) -> None:
    s3_env.put_object(Bucket=BUCKET, Key="race/object", Body=b"first")
    real_head = s3_env.head_object

    def head_sees_nothing(**kwargs: Any) -> Any:
        real_head(**kwargs)  # the object is there; pretend the HEAD came before it
        raise s3_env.exceptions.ClientError({"Error": {"Code": "404"}}, "HeadObject")

    s3_env.head_object = head_sees_nothing
    with pytest.raises(pins.PublishError, match="appeared while publishing"):
        publish.upload_once(s3_env, BUCKET, "race/object", b"second")
    assert s3_env.get_object(Bucket=BUCKET, Key="race/object")["Body"].read() == b"first"


def test_a_missing_bucket_is_named_with_what_to_do(
    s3_env: Any, artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish.main(["--bucket", "no-such-bucket-here", "--artifacts", str(artifacts)]) == 1
    assert "bucket no-such-bucket-here does not exist" in capsys.readouterr().err


def test_missing_credentials_are_named_with_what_to_do(
    s3_env: Any, artifacts: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    # No shared files, no instance metadata: nowhere to find credentials.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert publish.main(["--bucket", BUCKET, "--artifacts", str(artifacts)]) == 1
    assert "no AWS credentials found" in capsys.readouterr().err


def test_artifacts_that_do_not_belong_together_are_not_published(
    s3_env: Any, artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:

    frame = load()
    refit = dumps(fit_transformation(frame[frame["State"] != "AK"]))
    (artifacts / "transformation.sav").write_bytes(refit)
    argv = ["--bucket", BUCKET, "--prefix", "mismatch", "--artifacts", str(artifacts)]
    assert publish.main(argv) == 1
    assert "is not the file metadata.json describes" in capsys.readouterr().err
    # Even with metadata.json rewritten to describe it, the refit encoder does not give the model's features.
    metadata = json.loads((artifacts / "metadata.json").read_text())
    metadata["artifacts"]["transformation.sav"]["sha256"] = sha256_hex(refit)
    (artifacts / "metadata.json").write_text(json.dumps(metadata))
    assert publish.main(argv) == 1
    assert "feature signature mismatch" in capsys.readouterr().err
    assert "Contents" not in s3_env.list_objects_v2(Bucket=BUCKET, Prefix="mismatch/")


def test_the_values_are_saved_per_environment_in_the_users_state_file_keeping_values_set_by_hand(
    s3_env: Any, artifacts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / ".churn-api" / "deploy.toml"
    argv = ["--bucket", BUCKET, "--artifacts", str(artifacts), "--state", str(state)]
    assert publish.main([*argv, "--config-env", "production"]) == 0
    values = printed_overrides(capsys.readouterr().out)
    assert load_state(state) == {"production": values}
    # A value set by hand in the same environment survives the next publish; another environment is its own.
    state.write_text(state.read_text(encoding="utf-8") + 'RequireApiKey = "true"\n', encoding="utf-8")
    assert publish.main([*argv, "--config-env", "production"]) == 0
    assert publish.main([*argv, "--config-env", "dev", "--prefix", "dev"]) == 0
    saved = load_state(state)
    assert saved["production"] == {**values, "RequireApiKey": "true"}
    assert saved["dev"]["TransformKey"].startswith("dev/")
    assert state.read_text(encoding="utf-8").startswith("# Per-user deploy state")
