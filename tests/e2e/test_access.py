"""Who may call the predict routes, as the stack's options say: an API key with its usage plan, a Cognito ID token."""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

import pytest

from churn_local.lambda_runtime.event_files import reference_payload
from tests.e2e.conftest import OptionTarget, OwnStacks
from tests.e2e.targets import Target


def test_with_require_api_key_a_call_needs_the_stacks_key(option_target: OptionTarget) -> None:
    # GIVEN the stack deployed with RequireApiKey=true, and its key's value read as the outputs say
    keyed = option_target("e2e-api-key", {"RequireApiKey": "true"})
    assert keyed.stack is not None
    key = keyed.client("apigateway").get_api_key(apiKey=keyed.stack.outputs["ApiKeyId"], includeValue=True)["value"]
    # WHEN the reference customer is POSTed without a key, with a wrong one, and with the stack's
    without = keyed.call("/predict", "POST", reference_payload())[0]
    wrong = keyed.call("/predict", "POST", reference_payload(), {"x-api-key": "w" * 40})[0]
    status, _, body = keyed.call("/predict", "POST", reference_payload(), {"x-api-key": key})
    # THEN 403, 403, then the score; health never needs the key
    assert (without, wrong, status) == (403, 403, 200), body
    assert json.loads(body)["score"] > 0
    assert keyed.call("/health")[0] == 200


def _id_token(target: Target, pool_name: str) -> tuple[str, str]:
    """Create a user pool, an app client and a confirmed user in the target's AWS; return the pool's ARN and the
    user's ID token from a real sign-in."""
    cognito: Any = target.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName=pool_name)["UserPool"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool["Id"], ClientName="e2e", ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]
    password = "Aa1!" + secrets.token_urlsafe(16)
    cognito.admin_create_user(UserPoolId=pool["Id"], Username="e2e-user", MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=pool["Id"], Username="e2e-user", Password=password, Permanent=True)
    signed_in = cognito.admin_initiate_auth(
        UserPoolId=pool["Id"],
        ClientId=client["ClientId"],
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "e2e-user", "PASSWORD": password},
    )
    return str(pool["Arn"]), str(signed_in["AuthenticationResult"]["IdToken"])


def test_with_a_cognito_user_pool_a_call_needs_its_id_token(
    option_target: OptionTarget, target: Target, own_stacks: OwnStacks | None
) -> None:
    # GIVEN a user pool with a signed-in user, and the stack deployed with its ARN (a named stack: its own pool, and
    # a user's ID token in CHURN_E2E_ID_TOKEN)
    if own_stacks is not None:
        arn, token = _id_token(target, "churn-api-e2e")
    else:
        arn, token = target.parameter("CognitoUserPoolArn"), os.environ.get("CHURN_E2E_ID_TOKEN", "")
        if not arn:
            pytest.skip(f"stack {target.stack.name if target.stack else target.url} has no CognitoUserPoolArn")
        if not token:
            pytest.skip("the stack requires a Cognito ID token: set CHURN_E2E_ID_TOKEN to one of its pool's users")
    guarded = option_target("e2e-cognito", {"CognitoUserPoolArn": arn})
    # WHEN the reference customer is POSTed without a token, with a made-up one, and with the user's ID token
    without = guarded.call("/predict", "POST", reference_payload())[0]
    garbage = guarded.call("/predict", "POST", reference_payload(), {"Authorization": "not-a-token"})[0]
    status, _, body = guarded.call("/predict", "POST", reference_payload(), {"Authorization": token})
    # THEN 401, 401, then the score; health never needs a token
    assert (without, garbage, status) == (401, 401, 200), body
    assert json.loads(body)["score"] > 0
    assert guarded.call("/health")[0] == 200
