"""Settings come from the environment that template.yaml declares, and fail fast: the required ones, then what a
deployment adds (endpoint kind and its chunk limit, artifact pins, bucket owner, eager init)."""

from __future__ import annotations

import pytest

from churn_api.config import ENDPOINT_PAYLOAD_LIMITS, ConfigError, Settings
from churn_api.predictor import MAX_CHUNK_BYTES, chunk

COMPLETE = {
    "ENDPOINT_NAME": "churn-xgboost",
    "TRANSFORM_BUCKET": "churn-bucket",
    "TRANSFORM_KEY": "transformation.sav",
    "THRESHOLD": "0.39",
}


def test_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_env({**COMPLETE, "THRESHOLD": "0.5"})
    assert settings == Settings("churn-xgboost", "churn-bucket", "transformation.sav", 0.5)


@pytest.mark.parametrize("name", sorted(COMPLETE))
@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_missing_required_variable_fails_fast_naming_it(name: str, value: str | None) -> None:
    env = {k: v for k, v in COMPLETE.items() if k != name}
    if value is not None:
        env[name] = value
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)


@pytest.mark.parametrize("raw", ["abc", "-0.1", "1.01", "nan", "inf"])
def test_a_threshold_outside_zero_to_one_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="THRESHOLD"):
        Settings.from_env({**COMPLETE, "THRESHOLD": raw})


DIGEST = "ab" * 32


def settings(**env: str) -> Settings:
    return Settings.from_env({**COMPLETE, **env})


@pytest.mark.parametrize(
    ("kind", "limit"), [("serverless", 4_000_000), ("real-time", 6_000_000), ("external", 4_000_000)]
)
def test_each_endpoint_kind_chunks_below_its_invoke_endpoint_limit(kind: str, limit: int) -> None:
    max_bytes = settings(ENDPOINT_KIND=kind).max_chunk_bytes
    assert ENDPOINT_PAYLOAD_LIMITS[kind] == limit
    assert max_bytes < limit
    # 1,000 rows of 10 kB: every chunk the service makes with this limit fits the endpoint's request.
    chunks = chunk([10_000] * 1_000, max_rows=1_000, max_bytes=max_bytes)
    assert all(len(c) * 10_001 <= limit for c in chunks)
    assert sum(len(c) for c in chunks) == 1_000


def test_real_time_keeps_todays_chunk_size_and_serverless_is_smaller() -> None:
    assert settings(ENDPOINT_KIND="real-time").max_chunk_bytes == MAX_CHUNK_BYTES
    assert settings(ENDPOINT_KIND="serverless").max_chunk_bytes < MAX_CHUNK_BYTES


def test_an_endpoint_the_stack_does_not_know_is_assumed_to_be_the_smaller_kind() -> None:
    assert settings().endpoint_kind == "external"
    assert settings().max_chunk_bytes == settings(ENDPOINT_KIND="serverless").max_chunk_bytes


def test_the_pins_and_the_owner_are_read_and_default_to_unpinned() -> None:
    pinned = settings(
        TRANSFORM_SHA256=DIGEST.upper(),
        FEATURE_SIGNATURE=DIGEST,
        TRANSFORM_BUCKET_OWNER="123456789012",
        EAGER_INIT="true",
    )
    assert (pinned.transform_sha256, pinned.feature_signature, pinned.bucket_owner) == (DIGEST, DIGEST, "123456789012")
    assert pinned.eager_init is True
    bare = settings()
    assert (bare.transform_sha256, bare.feature_signature, bare.bucket_owner, bare.eager_init) == ("", "", "", False)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ENDPOINT_KIND", "provisioned"),
        ("TRANSFORM_SHA256", "abc"),
        ("TRANSFORM_SHA256", "g" * 64),
        ("FEATURE_SIGNATURE", DIGEST + "0"),
        ("TRANSFORM_BUCKET_OWNER", "12345"),
        ("EAGER_INIT", "sometimes"),
    ],
)
def test_a_malformed_deployment_setting_fails_the_cold_start_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        settings(**{name: value})
