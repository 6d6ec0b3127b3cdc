"""The model version and the drift samples: what names a model, and what a sample line holds."""

from __future__ import annotations

import json

import pytest

from churn_api.config import ConfigError, Settings
from churn_api.models import Customer
from churn_api.provenance import UNPINNED, ModelInfo, model_version
from churn_api.sampling import SAMPLE_MARKER, DriftSampler, sample_of
from churn_local.lambda_runtime.event_files import reference_payload

COMPLETE = {"ENDPOINT_NAME": "e", "TRANSFORM_BUCKET": "b", "TRANSFORM_KEY": "k", "THRESHOLD": "0.39"}


def test_the_version_is_a_short_digest_of_both_sha256s_and_changes_with_either() -> None:
    t, m = "a" * 64, "b" * 64
    version = model_version(t, m)
    assert len(version) == 16 and int(version, 16) >= 0
    assert model_version(t.upper(), m) == version
    assert len({version, model_version("c" * 64, m), model_version(t, "c" * 64), model_version(m, t)}) == 4


def test_a_variant_is_named_only_when_sagemaker_names_one() -> None:
    model = ModelInfo(version="0123456789abcdef", threshold=0.39)
    assert model.with_variant(None) is model
    assert model.with_variant("AllTraffic").model_dump() == {
        "version": "0123456789abcdef",
        "threshold": 0.39,
        "variant": "AllTraffic",
    }
    assert "variant" not in model.model_dump()


def test_the_function_reads_the_pinned_version_and_the_sample_rate() -> None:
    settings = Settings.from_env({**COMPLETE, "MODEL_VERSION": "0123456789ABCDEF", "DRIFT_SAMPLE_PERCENT": "10"})
    assert (settings.model_version, settings.sample_rate) == ("0123456789abcdef", 0.1)
    assert (Settings.from_env(COMPLETE).model_version, Settings.from_env(COMPLETE).sample_rate) == (UNPINNED, 0.0)


@pytest.mark.parametrize(
    ("name", "raw"), [("MODEL_VERSION", "abc"), ("MODEL_VERSION", "g" * 16), ("DRIFT_SAMPLE_PERCENT", "101")]
)
def test_a_malformed_version_or_rate_fails_at_init(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({**COMPLETE, name: raw})


def test_the_sampler_writes_the_drawn_customers_with_score_and_version_never_the_phone() -> None:
    customer = Customer.model_validate(reference_payload())
    draws = iter([0.05, 0.5, 0.09, 0.1])
    written: list[str] = []
    sampler = DriftSampler(0.1, write=written.append, draw=lambda: next(draws))
    sampler([customer] * 4, [0.1, 0.2, 0.3, 0.4], ModelInfo(version="v", threshold=0.39))
    lines = "".join(written).splitlines()
    samples = [json.loads(line) for line in lines]
    assert [s["score"] for s in samples] == [0.1, 0.3]  # drawn under 0.1: the first and the third
    assert all(s[SAMPLE_MARKER] == 1 and s["version"] == "v" for s in samples)
    assert samples[0]["features"] == customer.features() and "Phone" not in samples[0]["features"]
    assert reference_payload()["Phone"] not in "".join(written)


def test_nothing_drawn_writes_nothing() -> None:
    written: list[str] = []
    DriftSampler(0.5, write=written.append, draw=lambda: 0.9)(
        [Customer.model_validate(reference_payload())], [0.1], ModelInfo(version="v", threshold=0.39)
    )
    assert written == []


@pytest.mark.parametrize("rate", [0, -0.1, 1.5])
def test_a_sampler_needs_a_rate_above_zero_up_to_one(rate: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        DriftSampler(rate)


def test_a_log_message_is_a_sample_only_when_it_is_a_marked_json_line() -> None:
    line = json.dumps({SAMPLE_MARKER: 1, "version": "v", "score": 0.2, "features": {"State": "SC"}})
    assert sample_of(line) == json.loads(line)
    assert sample_of("2026-12-07T00:00:00Z\t" + line) == json.loads(line)  # a prefix before the JSON is skipped
    assert sample_of("START RequestId: abc") is None
    assert sample_of(f'{{"{SAMPLE_MARKER}": 1, "score": "high", "features": {{}}}}') is None
    assert sample_of(f'{{"{SAMPLE_MARKER}": 1, "score": 0.2') is None
