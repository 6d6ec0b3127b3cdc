"""The demo page in a real browser (Debian's Chromium through Playwright) against the whole local stack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from churn_local.constants import PROJECT_ROOT
from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.services.http_server import free_port
from churn_local.training.reference_model import ReferenceModel
from tests.integration.conftest import Stack, open_page, predict

pytestmark = pytest.mark.browser


@pytest.fixture
def page(chromium: Any, stack: Stack) -> Iterator[Any]:
    """Open the demo page served by the local API; fail on any script error."""
    yield from open_page(chromium, f"{stack.api_url}/")


def input_for(page: Any, name: str) -> Any:
    """Return the input labelled with a reference field name."""
    return page.get_by_label(name, exact=True)


def submit_and_wait(page: Any) -> None:
    with page.expect_response(lambda r: r.url.endswith("/predict")):
        page.get_by_role("button", name="Score this customer").click()
    page.wait_for_function("() => !document.getElementById('submit').disabled")


def test_the_form_is_prefilled_with_the_reference_customer_under_the_reference_names(page: Any) -> None:
    for name, value in reference_payload().items():
        assert input_for(page, name).input_value() == value


def test_the_form_has_one_field_per_property_of_the_contracts_customer_and_suggests_its_categories(page: Any) -> None:
    document = json.loads((PROJECT_ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    customer = document["components"]["schemas"]["Customer"]
    page.wait_for_selector("#submit:not([disabled])")

    names = page.locator("#customer-form input").evaluate_all("inputs => inputs.map(i => i.name)")
    assert sorted(names) == sorted(customer["properties"])
    state = input_for(page, "State")
    options = page.locator(f"#{state.get_attribute('list')} option").evaluate_all("os => os.map(o => o.value)")
    assert options == customer["properties"]["State"]["anyOf"][0]["enum"]


def test_submitting_the_form_shows_the_apis_score_and_label_for_the_reference_customer(
    page: Any, stack: Stack, reference_model: ReferenceModel, tmp_path: Path
) -> None:
    answer = predict(stack, reference_payload()).json()

    submit_and_wait(page)

    result = page.locator("#result")
    assert float(page.locator("#score-value").inner_text()) == answer["score"]
    assert float(page.locator("#threshold-value").inner_text()) == answer["threshold"]
    # Beside the score, the model that gave it
    assert page.locator("#model-version").inner_text().startswith(answer["model"]["version"])
    assert json.loads(page.locator("#label-value").inner_text()) == answer["label"]
    assert answer["score"] == pytest.approx(reference_model.scores([reference_payload()])[0], abs=1e-6)
    assert (page.locator("#verdict-badge").inner_text() == "Will churn") is answer["churn"]
    assert result.get_attribute("aria-live") == "polite"
    page.screenshot(path=str(tmp_path / "demo-page-result.png"), full_page=True)


def test_a_churning_customer_is_shown_above_the_threshold(
    page: Any, stack: Stack, held_out_payloads: list[dict[str, str]], reference_model: ReferenceModel, tmp_path: Path
) -> None:
    scores = reference_model.scores(held_out_payloads[:200])
    churner = next(p for p, s in zip(held_out_payloads, scores, strict=False) if s > 0.8)
    for name, value in churner.items():
        input_for(page, name).fill(value)

    submit_and_wait(page)

    assert page.locator("#verdict-badge").inner_text() == "Will churn"
    assert json.loads(page.locator("#label-value").inner_text()) == "True"
    assert float(page.locator("#score-value").inner_text()) == predict(stack, churner).json()["score"]
    page.screenshot(path=str(tmp_path / "demo-page-churner.png"), full_page=True)


def test_a_non_numeric_value_shows_the_apis_problem_next_to_that_field(page: Any, stack: Stack, tmp_path: Path) -> None:
    expected = predict(stack, {**reference_payload(), "Day Mins": "abc"}).json()["error"]["details"]
    input_for(page, "Day Mins").fill("abc")

    submit_and_wait(page)

    day_mins = input_for(page, "Day Mins")
    error = page.locator("#f-day-mins-error")
    assert error.is_visible()
    assert error.inner_text() == expected[0]["problem"]
    assert day_mins.get_attribute("aria-invalid") == "true"
    assert "f-day-mins-error" in (day_mins.get_attribute("aria-describedby") or "")
    assert page.locator("input[aria-invalid='true']").count() == 1
    assert page.locator("#failure-title").inner_text() == "VALIDATION_ERROR"
    assert page.locator("#prediction").is_hidden()
    page.screenshot(path=str(tmp_path / "demo-page-field-error.png"), full_page=True)


def test_an_unknown_state_is_flagged_on_the_state_field_and_cleared_once_fixed(page: Any) -> None:
    input_for(page, "State").fill("XX")
    submit_and_wait(page)

    assert page.locator("#f-state-error").is_visible()
    assert "XX" in page.locator("#f-state-error").inner_text()

    input_for(page, "State").fill("SC")
    submit_and_wait(page)

    assert page.locator("#f-state-error").is_hidden()
    assert page.locator("input[aria-invalid='true']").count() == 0
    assert page.locator("#prediction").is_visible()


def test_an_emptied_field_is_reported_as_required_by_the_api(page: Any) -> None:
    input_for(page, "CustServ Calls").fill("")

    submit_and_wait(page)

    assert page.locator("#f-custserv-calls-error").inner_text() == "is required"


def test_the_api_query_parameter_points_the_page_at_another_api_and_an_unreachable_one_is_reported(
    chromium: Any, stack: Stack
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    context = chromium.new_context()
    try:
        tab = context.new_page()
        tab.goto(f"{stack.api_url}/?api={closed}")

        assert tab.locator("#endpoint-url").inner_text() == f"POST {closed}/predict"
        tab.get_by_role("button", name="Score this customer").click()
        tab.wait_for_selector("#failure:not([hidden])")

        assert tab.locator("#failure-title").inner_text() == "Cannot reach the API"
        assert f"{closed}/predict" in tab.locator("#failure-message").inner_text()
    finally:
        context.close()
