"""The published contract: the OpenAPI document, stating the categories the loaded transformation accepts.

One document: the function serves it at /swagger and `make openapi` writes it to docs/openapi.json, both through
`ContractResolver.get_openapi_schema`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from churn_api.gateway import ProxyEvent
from churn_api.internals import EventClassResolver
from churn_api.models import COUNT_DIGITS
from churn_api.preprocessing import Transformation

if TYPE_CHECKING:
    # Powertools' OpenAPI models are slow to import and only the document needs them: kept out of the cold start.
    from aws_lambda_powertools.event_handler.openapi.models import OpenAPI

Categories = Mapping[str, Sequence[Any]]


def categories_of(transformation: Transformation) -> dict[str, list[Any]]:
    """Return, per categorical field, the categories the transformation's encoder was fitted on, sorted."""
    return {column: sorted(values) for column, values in transformation.categories.items()}


def customer_schemas(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the Customer schema and the copy the batch request inlines (its items are validated one by one)."""
    schemas = document["components"]["schemas"]
    return [schemas["Customer"], schemas["BatchRequest"]["properties"]["customers"]["items"]]


# Powertools declares a 422 and its schemas for every validated route; the handler answers 400 instead
# (errors.InvalidRequest), so no route can answer them.
_UNREACHABLE_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


def without_unreachable_422(document: dict[str, Any]) -> dict[str, Any]:
    """Return the document without the 422 responses (and their schemas) that no route answers."""
    published = copy.deepcopy(document)
    for item in published["paths"].values():
        for operation in item.values():
            responses = operation.get("responses", {})
            for status in (422, "422"):  # Powertools' model keys statuses by int, its JSON by string
                responses.pop(status, None)
    schemas = published.get("components", {}).get("schemas", {})
    for name in _UNREACHABLE_SCHEMAS:
        schemas.pop(name, None)
    return published


def with_categories(document: dict[str, Any], categories: Categories) -> dict[str, Any]:
    """Return the document with each categorical field limited to its categories.

    The first alternative is the plain `enum` a front-end builds its dropdown from; the second states the other
    spellings the API accepts for the same values (surrounding spaces; for numbers, a numeric string), so that the
    document and the API accept the same things.
    """
    published = copy.deepcopy(document)
    for schema in customer_schemas(published):
        for field, values in categories.items():
            spellings = "|".join(re.escape(str(v)) for v in values)
            if all(isinstance(v, int) for v in values):
                # A count string holds at most COUNT_DIGITS digits, leading zeros included (models.Count).
                padded = "|".join(f"0{{0,{COUNT_DIGITS - len(str(v))}}}{v}" for v in values)
                alternatives = [
                    {"type": "integer", "enum": list(values)},
                    {"type": "string", "pattern": rf"^\s*\+?(?:{padded})\s*$"},
                ]
            else:
                alternatives = [
                    {"type": "string", "enum": list(values)},
                    {"type": "string", "pattern": rf"^\s*(?:{spellings})\s*$"},
                ]
            previous = schema["properties"][field]
            schema["properties"][field] = {
                **{k: previous[k] for k in ("title", "examples") if k in previous},
                "anyOf": alternatives,
                "description": "One of the categories the model was trained on.",
            }
    return published


class ContractResolver(EventClassResolver):
    """A REST resolver whose OpenAPI document (and /swagger) states the categories of `categories()`.

    Its events read their headers once per request (gateway.ProxyEvent).
    """

    event_class = ProxyEvent

    def __init__(self, *, categories: Callable[[], Categories], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.categories = categories

    def get_openapi_schema(self, **kwargs: Any) -> OpenAPI:
        """Return Powertools' document without its unreachable 422s, with the categories the transformation accepts."""
        from aws_lambda_powertools.event_handler.openapi.models import OpenAPI  # noqa: PLC0415 - see the top

        raw = without_unreachable_422(super().get_openapi_schema(**kwargs).model_dump(by_alias=True, exclude_none=True))
        categories = self.categories()
        return OpenAPI.model_validate(with_categories(raw, categories) if categories else raw)
