"""The demo page served from another origin, in Chromium, against stacks that do and do not allow that origin."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from churn_local.lambda_runtime.event_files import reference_payload
from churn_local.template.expansion import default_threshold
from churn_local.training.reference_model import ReferenceModel
from tests.integration.conftest import API_KEY, Stack, StaticSite, open_page, predict, send

pytestmark = pytest.mark.browser

# Well under the page's own 35 s give-up: a blocked call must be reported at once, not after a timeout.
PROMPTLY_MS = 10_000


@pytest.fixture
def allowed_page(chromium: Any, static_site: StaticSite, front_end_stack: Stack) -> Iterator[Any]:
    """Open the static site's page against the stack that allows its origin and requires API_KEY."""
    yield from open_page(chromium, f"{static_site.origin}/?api={front_end_stack.api_url}")


@pytest.fixture
def refused_page(chromium: Any, static_site: StaticSite, stack: Stack) -> Iterator[Any]:
    """Open the static site's page against the default stack, which allows only http://localhost:3000."""
    yield from open_page(chromium, f"{static_site.origin}/?api={stack.api_url}")


def submit(page: Any) -> None:
    page.get_by_role("button", name="Score this customer").click()
    page.wait_for_function("() => !document.getElementById('submit').disabled", timeout=PROMPTLY_MS)


def test_the_page_is_served_by_another_origin_than_the_api(static_site: StaticSite, front_end_stack: Stack) -> None:
    page = send("GET", f"{static_site.origin}/")

    assert page.status == 200
    assert b'id="customer-form"' in page.body
    assert static_site.origin != front_end_stack.api_url


def test_from_an_allowed_origin_with_the_key_the_page_scores_the_reference_customer(
    allowed_page: Any, front_end_stack: Stack, reference_model: ReferenceModel, tmp_path: Path
) -> None:
    allowed_page.get_by_label("API key").fill(API_KEY)

    submit(allowed_page)

    allowed_page.wait_for_selector("#prediction:not([hidden])", timeout=PROMPTLY_MS)
    score = float(allowed_page.locator("#score-value").inner_text())
    assert score == pytest.approx(reference_model.scores([reference_payload()])[0], abs=1e-6)
    assert json.loads(allowed_page.locator("#label-value").inner_text()) == str(score > float(str(default_threshold())))
    assert allowed_page.locator("#endpoint-url").inner_text() == f"POST {front_end_stack.api_url}/predict"
    # The request id crosses origins only because the function exposes it.
    assert "request id" in allowed_page.locator("#meta").inner_text()
    allowed_page.screenshot(path=str(tmp_path / "cross-origin-result.png"), full_page=True)


def test_from_an_allowed_origin_a_field_error_still_lands_next_to_its_field(allowed_page: Any) -> None:
    allowed_page.get_by_label("API key").fill(API_KEY)
    allowed_page.get_by_label("Day Mins", exact=True).fill("abc")

    submit(allowed_page)

    assert allowed_page.locator("#f-day-mins-error").is_visible()
    assert allowed_page.locator("#failure-title").inner_text() == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    ("key", "title", "problem"),
    [
        ("", "API key required", "this API requires a key"),
        ("wrong-key-0123456789abc", "API key refused", "this key was refused"),
    ],
)
def test_without_the_right_key_the_page_says_so_next_to_the_key_field(
    allowed_page: Any, front_end_stack: Stack, key: str, title: str, problem: str
) -> None:
    answer = send("POST", f"{front_end_stack.api_url}/predict", reference_payload(), x_api_key=key)
    assert (answer.status, answer.json()) == (403, {"message": "Forbidden"})
    allowed_page.get_by_label("API key").fill(key)

    submit(allowed_page)

    assert allowed_page.locator("#failure-title").inner_text() == title
    assert allowed_page.locator("#api-key-error").inner_text() == problem
    assert allowed_page.get_by_label("API key").get_attribute("aria-invalid") == "true"
    assert allowed_page.locator("#prediction").is_hidden()


def test_from_an_origin_the_api_does_not_allow_the_page_shows_a_cors_error_promptly(
    refused_page: Any, static_site: StaticSite, stack: Stack, tmp_path: Path
) -> None:
    # The API itself answers: only the browser refuses to hand the answer to this origin.
    assert predict(stack, reference_payload()).status == 200

    submit(refused_page)

    refused_page.wait_for_selector("#failure:not([hidden])", timeout=PROMPTLY_MS)
    assert refused_page.locator("#failure-title").inner_text() == "Blocked by CORS"
    text = refused_page.locator("#failure-message").inner_text()
    assert f"--cors-origin {static_site.origin}" in text
    assert f"CorsAllowOrigin={static_site.origin}" in text
    assert refused_page.locator("#prediction").is_hidden()
    refused_page.screenshot(path=str(tmp_path / "cors-refused.png"), full_page=True)
