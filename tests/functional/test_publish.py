"""`make publish` against moto's real S3 server over HTTP: content-addressed keys, no overwrite, the printed values."""

from __future__ import annotations

import json
import shlex
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from churn_api.budget import Deadline
from churn_api.integrity import Expectations, sha256_hex
from churn_api.preprocessing import TransformationStore
from churn_local.training import publish
from tests.template.conftest import load_template

BUCKET = "churn-api-publish-test"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """Run moto's S3 server on a free port of 127.0.0.1; return its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point boto3 at the server the standard way (AWS_ENDPOINT_URL_S3) with fake credentials; make the bucket."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3 = boto3.client("s3")
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    return s3


@pytest.fixture
def artifacts(trained_artifacts: Path, tmp_path: Path) -> Path:
    """A private copy of the session's trained artifacts (tests may tamper with it)."""
    folder = tmp_path / "artifacts"
    shutil.copytree(trained_artifacts, folder)
    return folder


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
    digest = publish.read_artifacts(artifacts).digest
    keys = {o["Key"] for o in s3_env.list_objects_v2(Bucket=BUCKET, Prefix=f"churn-api/{digest}/")["Contents"]}
    assert keys == {f"churn-api/{digest}/{name}" for name in publish.ARTIFACTS}
    for name in publish.ARTIFACTS:
        body = s3_env.get_object(Bucket=BUCKET, Key=f"churn-api/{digest}/{name}")["Body"].read()
        assert body == (artifacts / name).read_bytes()
    assert values == {
        "EndpointName": "churn-xgboost",
        "TransformBucket": BUCKET,
        "TransformKey": f"churn-api/{digest}/transformation.sav",
        "TransformSha256": sha256_hex((artifacts / "transformation.sav").read_bytes()),
        "FeatureSignature": trained_metadata["features"]["signature"],
        "ModelDataUrl": f"s3://{BUCKET}/churn-api/{digest}/model.tar.gz",
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
    assert second.count(": already there") == 3 and ": uploaded" not in second
    assert printed_overrides(second) == printed_overrides(first)


def test_an_existing_object_with_other_content_is_never_overwritten(
    s3_env: Any, artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = publish.read_artifacts(artifacts).digest
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
    with pytest.raises(publish.PublishError, match="appeared while publishing"):
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
    from churn_local.training.dataset import load
    from churn_local.training.transformation import dumps, fit_transformation

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


def test_the_values_can_be_saved_into_a_samconfig_environment_that_sam_cli_reads(
    s3_env: Any, artifacts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from samcli.lib.config.samconfig import SamConfig

    from churn_local.constants import PROJECT_ROOT

    config_path = tmp_path / "samconfig.toml"
    shutil.copy(PROJECT_ROOT / "samconfig.toml", config_path)
    argv = ["--bucket", BUCKET, "--artifacts", str(artifacts), "--samconfig", str(config_path)]
    assert publish.main([*argv, "--samconfig-env", "prod"]) == 0
    values = printed_overrides(capsys.readouterr().out)
    deploy = SamConfig(str(tmp_path), "samconfig.toml").get_all(["deploy"], "parameters", env="prod")
    saved = dict(pair.split("=", 1) for pair in shlex.split(deploy["parameter_overrides"]))
    assert saved == values
    # A new environment starts from the default one's settings, and the default one is left as it was.
    assert deploy["capabilities"] == "CAPABILITY_IAM" and deploy["resolve_s3"] is True
    assert SamConfig(str(tmp_path), "samconfig.toml").get_all(["global"], "parameters", env="prod") == {
        "stack_name": "churn-api"
    }
    original = tomllib.loads((PROJECT_ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    assert tomllib.loads(config_path.read_text(encoding="utf-8"))["default"] == original["default"]
    # Publishing again keeps a value set by hand in the same environment.
    by_hand = SamConfig(str(tmp_path), "samconfig.toml")
    by_hand.put(
        ["deploy"], "parameters", "parameter_overrides", deploy["parameter_overrides"] + " RequireApiKey=true", "prod"
    )
    by_hand.flush()
    assert publish.main([*argv, "--samconfig-env", "prod"]) == 0
    deploy = SamConfig(str(tmp_path), "samconfig.toml").get_all(["deploy"], "parameters", env="prod")
    assert "RequireApiKey=true" in deploy["parameter_overrides"]
