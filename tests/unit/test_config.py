"""Settings come from the environment that template.yaml declares, and fail fast."""

from __future__ import annotations

import pytest

from churn_api.config import ConfigError, Settings

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
