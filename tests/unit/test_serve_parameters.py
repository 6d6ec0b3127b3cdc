"""The template parameters `serve` passes: the published pins, the user's overrides, then the local resources."""

from __future__ import annotations

from churn_local.stack.local_stack import StackSettings

PUBLISHED = {
    "TransformBucket": "churn-api-local",
    "TransformKey": "churn-api/0123456789abcdef/transformation.sav",
    "TransformSha256": "a" * 64,
    "FeatureSignature": "b" * 64,
    "ModelDataUrl": "s3://churn-api-local/churn-api/0123456789abcdef/model.tar.gz",
}


def test_the_published_pins_reach_the_template_but_not_the_model_url() -> None:
    overrides = StackSettings().parameter_overrides(PUBLISHED)

    for name in ("TransformKey", "TransformSha256", "FeatureSignature"):
        assert overrides[name] == PUBLISHED[name]
    # The local endpoint serves the model from the artifacts folder; ModelDataUrl would ask for a hosted one.
    assert "ModelDataUrl" not in overrides


def test_a_users_parameter_wins_over_a_published_pin_but_not_over_the_local_resources() -> None:
    settings = StackSettings(parameters={"TransformSha256": "c" * 64, "EndpointName": "elsewhere"})

    overrides = settings.parameter_overrides(PUBLISHED)

    assert overrides["TransformSha256"] == "c" * 64
    assert overrides["EndpointName"] == settings.endpoint_name
    assert overrides["TransformBucket"] == settings.bucket


def test_the_threshold_is_the_templates_unless_the_user_sets_one() -> None:
    # Left out, the template's Threshold default applies: the one place the default threshold is written.
    assert "Threshold" not in StackSettings().parameter_overrides(PUBLISHED)
    assert StackSettings(threshold=0.8).parameter_overrides(PUBLISHED)["Threshold"] == "0.8"
