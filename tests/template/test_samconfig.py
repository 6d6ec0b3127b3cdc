"""samconfig.toml, read by SAM CLI's own config reader, gives `sam build`/`sam deploy`/`sam local` what they need."""

from __future__ import annotations

import json
from typing import Any

from churn_local.constants import PROJECT_ROOT
from churn_local.release.state import samconfig_overrides
from churn_local.template.samcli import SamConfig


def command_parameters(*command: str) -> dict[str, Any]:
    """Return the parameters SAM CLI applies to a command from samconfig.toml, globals included."""
    params: dict[str, Any] = SamConfig(str(PROJECT_ROOT)).get_all(list(command), "parameters")
    return params


def test_sam_deploy_targets_the_churn_api_stack_with_a_managed_bucket_and_iam_capability() -> None:
    """Let `sam deploy` run without flags after `--guided` once: stack, bucket, capabilities, confirmation."""
    deploy = command_parameters("deploy")
    assert deploy["stack_name"] == "churn-api"
    assert deploy["resolve_s3"] is True
    # The template creates the function's role, and names no IAM resource.
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True


def test_sam_validate_lints_by_default() -> None:
    """Make a bare `sam validate` run cfn-lint too, and need no credentials."""
    assert command_parameters("validate")["lint"] is True


def test_sam_build_reuses_unchanged_builds_of_the_layer() -> None:
    """Skip rebuilding the ~190 MB layer when layer/ has not changed."""
    build = command_parameters("build")
    assert build["cached"] is True
    assert build["stack_name"] == "churn-api"


def test_sam_local_commands_read_the_env_file_which_only_sets_variables_the_template_declares(
    template: dict[str, Any],
) -> None:
    """Point `sam local invoke`/`start-api` at events/env.json, whose variables the template must declare.

    SAM CLI only overrides environment variables that the function declares in the template, so a variable
    in the file but not in the template would silently not reach the function.
    """
    for command in (("local", "invoke"), ("local", "start-api")):
        env_file = PROJECT_ROOT / command_parameters(*command)["env_vars"]
        overrides = json.loads(env_file.read_text(encoding="utf-8"))
        for function, variables in overrides.items():
            declared = template["Resources"][function]["Properties"]["Environment"]["Variables"]
            assert set(variables) <= set(declared), (command, function)


def test_the_production_environment_deploys_a_canary_and_the_dev_one_all_at_once(template: dict[str, Any]) -> None:
    """Give each rollout environment the default's deploy settings and a DeploymentType the template accepts."""

    default = command_parameters("deploy")
    expected = {"production": "Canary10Percent5Minutes", "dev": "AllAtOnce"}
    for env, deployment_type in expected.items():
        deploy = SamConfig(str(PROJECT_ROOT)).get_all(["deploy"], "parameters", env=env)
        assert samconfig_overrides(PROJECT_ROOT / "samconfig.toml", env) == {"DeploymentType": deployment_type}
        assert deployment_type in template["Parameters"]["DeploymentType"]["AllowedValues"]
        for setting in ("capabilities", "confirm_changeset", "resolve_s3"):
            assert deploy[setting] == default[setting], (env, setting)
    assert SamConfig(str(PROJECT_ROOT)).get_all(["deploy"], "parameters", env="dev")["stack_name"] == "churn-api-dev"
    # The default environment keeps the stack as it was: no CodeDeploy unless asked for.
    assert "parameter_overrides" not in default
    assert template["Parameters"]["DeploymentType"]["Default"] == "Direct"
