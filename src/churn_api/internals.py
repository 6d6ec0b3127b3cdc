"""Every reach into a library's internals, in one module; tests/unit/test_internals.py checks what each relies on.

Each one saves time a request pays for (docs/performance.md has the figures) where the documented API costs more.
Before upgrading pydantic or Powertools, run that test file: it fails on the first assumption the new version breaks,
naming it, instead of letting a request fail or a model come out half-built.

Relied on elsewhere, and checked there too: pydantic keeps a model's validated field values in its `__dict__`,
keyed by field name (preprocessing.Transformation reads them from there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent, CaseInsensitiveDict
from pydantic import BaseModel

# -- pydantic ---------------------------------------------------------------------------------------------------

# The slots of every pydantic model instance, which `model_construct` sets and the assembler below sets alike.
MODEL_SLOTS = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")


def model_assembler[M: BaseModel](model: type[M]) -> Callable[[dict[str, Any], set[str]], M]:
    """Return a function that makes a `model` from validated field values, as `model_construct` assembles one.

    `model_construct` also applies defaults, aliases and extra fields (about 3 us); values validated by the model's
    own core schema need none of that. The slots are set through BaseModel's slot descriptors, since the model may
    be frozen.
    """
    new = model.__new__
    set_dict = object.__setattr__
    set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
    set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
    set_private = BaseModel.__dict__["__pydantic_private__"].__set__

    def assemble(values: dict[str, Any], fields_set: set[str]) -> M:
        instance = new(model)
        set_dict(instance, "__dict__", values)
        set_fields_set(instance, fields_set)
        set_extra(instance, None)
        set_private(instance, None)
        return instance

    return assemble


# -- Powertools -------------------------------------------------------------------------------------------------


class EventClassResolver(APIGatewayRestResolver):
    """A REST resolver whose events are instances of `event_class`.

    Powertools makes each request's event in its private `_to_proxy_event`, with the resolver's private
    `_json_body_deserializer`; it has no public hook for the event's class.
    """

    event_class: ClassVar[type[APIGatewayProxyEvent]] = APIGatewayProxyEvent

    def _to_proxy_event(self, event: dict[str, Any]) -> BaseProxyEvent:
        return self.event_class(event, self._json_body_deserializer)


def case_insensitive_copy(lower: Mapping[str, Any]) -> CaseInsensitiveDict:
    """Return Powertools' CaseInsensitiveDict of a mapping whose names are lower-case already.

    CaseInsensitiveDict keeps the lower-cased names in the dict itself; its __init__ lower-cases every name again
    through Python (0.86 us against 0.2 for this copy, made in C).
    """
    copy = CaseInsensitiveDict.__new__(CaseInsensitiveDict)
    dict.update(copy, lower)
    return copy
