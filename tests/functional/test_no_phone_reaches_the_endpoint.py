"""No customer's Phone ever reaches the SageMaker endpoint, so none can reach its data capture (EnableDataCapture).

The function sends the endpoint only the transformation's feature rows; Phone is none of the transformation's
columns. Checked through the handler: the InvokeEndpoint body is the same whatever the Phone, or without one.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from botocore.stub import Stubber

from churn_local.lambda_runtime.event_files import reference_payload
from tests.functional.conftest import answer, json_body, request


def test_phone_is_none_of_the_columns_the_function_sends(app_module: ModuleType) -> None:
    transformation = app_module.transformations.get(app_module.Deadline.after(10))
    assert "Phone" not in [*transformation.obj_cols, *transformation.num_cols]


@pytest.mark.parametrize("phone", ["415-555-0100", "382-4657", None])
def test_the_endpoint_receives_the_same_body_whatever_the_phone(
    app_module: ModuleType, sagemaker: Stubber, phone: str | None
) -> None:
    customer: dict[str, Any] = {k: v for k, v in reference_payload().items() if k != "Phone"}
    sent = app_module.transformations.get(app_module.Deadline.after(10)).to_csv(
        [app_module.Customer.model_validate(customer)]
    )
    if phone is not None:
        customer["Phone"] = phone
    # The Stubber checks the exact body: the rows of the customer without any Phone.
    answer(sagemaker, "0.25", expected_body=sent.encode())
    response = request(app_module, "POST", "/predict", customer)
    assert response["statusCode"] == 200, response["body"]
    assert json_body(response)["score"] == 0.25
    if phone is not None:
        assert phone not in sent and phone.replace("-", "") not in sent
