"""Request and response models; aliases are the reference payload's field names."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SkipValidation,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)
from pydantic_core import SchemaValidator, core_schema

from churn_api.errors import ErrorInfo
from churn_api.internals import model_assembler
from churn_api.provenance import ModelInfo
from churn_api.rules import MAX_BATCH_SIZE, NUMBER_LIMIT, churns

# Numbers arrive as JSON numbers or as numeric strings ("15"), the way the reference payload sends them. A string
# must match the pattern the OpenAPI document publishes, so that the schema and the API accept the same things
# (pydantic's lax parsing alone would also take "4.0" for a count, "1_000" or "-0").
COUNT_DIGITS = len(str(NUMBER_LIMIT - 1))
_COUNT_PATTERN = rf"^\s*\+?\d{{1,{COUNT_DIGITS}}}\s*$"
_AMOUNT_PATTERN = rf"^\s*\+?(\d{{1,{COUNT_DIGITS}}}(\.\d*)?|\.\d+)\s*$"


def _number(pattern: str, what: str) -> Callable[[Any], Any]:
    compiled = re.compile(pattern)

    def check(value: Any) -> Any:
        # pydantic's lax mode reads true/false as 1/0; a boolean in a numeric field is a client bug.
        if isinstance(value, bool):
            raise ValueError(f"must be {what}, not a boolean")
        if isinstance(value, str):
            if not compiled.fullmatch(value):
                raise ValueError(f"must be {what}, got a string that is not one")
            return value.strip()
        return value

    return check


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


@dataclass(frozen=True)
class Plainest:
    """The plainest spellings of a field's values, as a pydantic-core schema that needs no Python function.

    pydantic ignores this marker; `customers_from` validates with it first. It must accept only values the field's
    own validators accept, and give the same result for them (tests/unit/test_shortcuts_equal_the_plain_way.py
    checks that).
    """

    schema: core_schema.CoreSchema


_LIMITS: dict[str, Any] = {"ge": 0, "lt": NUMBER_LIMIT}
# A JSON integer (not a boolean), or ASCII digits alone: no sign, no spaces; pydantic converts them as the
# field's own validators do after their checks.
_PLAIN_COUNT = Plainest(
    core_schema.union_schema(
        [
            core_schema.chain_schema(
                [
                    core_schema.str_schema(pattern=rf"^[0-9]{{1,{COUNT_DIGITS}}}$", strict=True),
                    core_schema.int_schema(**_LIMITS),
                ]
            ),
            core_schema.int_schema(strict=True, **_LIMITS),
        ],
        mode="left_to_right",
    )
)
_PLAIN_AMOUNT = Plainest(
    core_schema.union_schema(
        [
            core_schema.chain_schema(
                [
                    core_schema.str_schema(
                        pattern=rf"^(?:[0-9]{{1,{COUNT_DIGITS}}}(?:\.[0-9]*)?|\.[0-9]+)$", strict=True
                    ),
                    # Limits too: "999999.99999999999" rounds to 1e6, which the field refuses.
                    core_schema.float_schema(allow_inf_nan=False, **_LIMITS),
                ]
            ),
            core_schema.float_schema(strict=True, allow_inf_nan=False, **_LIMITS),
        ],
        mode="left_to_right",
    )
)
# Printable ASCII with nothing to strip at either end, 1 to 64 characters.
_PLAIN_CATEGORY = Plainest(core_schema.str_schema(pattern=r"^[!-~](?:[ -~]{0,62}[!-~])?$", strict=True))


_COUNT = f"a whole number from 0 to {NUMBER_LIMIT - 1}"
_AMOUNT = f"a number from 0 up to (not including) {NUMBER_LIMIT}"
Count = Annotated[
    int,
    BeforeValidator(_number(_COUNT_PATTERN, _COUNT)),
    Field(ge=0, lt=NUMBER_LIMIT),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "exclusiveMaximum": NUMBER_LIMIT},
                {"type": "string", "pattern": _COUNT_PATTERN},
            ],
            "description": f"{_COUNT}, as a JSON number or a numeric string.",
        }
    ),
    _PLAIN_COUNT,
]
Amount = Annotated[
    float,
    BeforeValidator(_number(_AMOUNT_PATTERN, _AMOUNT)),
    Field(ge=0, lt=NUMBER_LIMIT, allow_inf_nan=False),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "exclusiveMaximum": NUMBER_LIMIT},
                {"type": "string", "pattern": _AMOUNT_PATTERN},
            ],
            "description": f"{_AMOUNT}, as a JSON number or a decimal string.",
        }
    ),
    _PLAIN_AMOUNT,
]
Category = Annotated[
    str,
    BeforeValidator(_strip),
    Field(min_length=1, max_length=64),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"\S"}),
    _PLAIN_CATEGORY,
]


class Customer(BaseModel):
    """One telecom customer, as the reference payload describes them."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=False)

    state: Category = Field(alias="State", examples=["SC"])
    account_length: Count = Field(alias="Account Length", examples=["15"])
    area_code: Count = Field(alias="Area Code", examples=["836"])
    # Phone identifies the customer: accepted for compatibility with the reference payload, never used or logged.
    phone: str | None = Field(
        default=None,
        alias="Phone",
        exclude=True,
        repr=False,
        examples=["158-8416"],
        description="Accepted, never used or logged.",
    )
    intl_plan: Category = Field(alias="Int'l Plan", examples=["yes"])
    vmail_plan: Category = Field(alias="VMail Plan", examples=["no"])
    vmail_message: Count = Field(alias="VMail Message", examples=["0"])
    day_mins: Amount = Field(alias="Day Mins", examples=["10.018992664834252"])
    day_calls: Count = Field(alias="Day Calls", examples=["4"])
    day_charge: Amount = Field(alias="Day Charge", examples=["4.226288822198435"])
    eve_mins: Amount = Field(alias="Eve Mins", examples=["2.3250045529370977"])
    eve_calls: Count = Field(alias="Eve Calls", examples=["0"])
    eve_charge: Amount = Field(alias="Eve Charge", examples=["9.97259241534841"])
    night_mins: Amount = Field(alias="Night Mins", examples=["7.141039871521733"])
    night_calls: Count = Field(alias="Night Calls", examples=["200"])
    night_charge: Amount = Field(alias="Night Charge", examples=["6.436187619334115"])
    intl_mins: Amount = Field(alias="Intl Mins", examples=["3.2217476231887012"])
    intl_calls: Count = Field(alias="Intl Calls", examples=["6"])
    intl_charge: Amount = Field(alias="Intl Charge", examples=["2.559749162329034"])
    custserv_calls: Count = Field(alias="CustServ Calls", examples=["8"])

    @classmethod
    def feature_names(cls) -> frozenset[str]:
        """Return the field names (aliases) a transformation may use as features."""
        return frozenset(f.alias for f in cls.model_fields.values() if f.alias and not f.exclude)

    def features(self) -> dict[str, Any]:
        """Return the feature values keyed by their reference names, without Phone."""
        return self.model_dump(by_alias=True)

    def __repr__(self) -> str:
        # Powertools formats the route's arguments into a DEBUG message on every request, at any level: pydantic's
        # repr of 20 fields costs about 8 us, and the values describe the customer.
        return "Customer(<values not shown>)"


def _plainest_fields(model: type[BaseModel]) -> core_schema.CoreSchema:
    """Return the schema of the model's fields, each field marked Plainest taking its plainest spellings only."""
    schema = model.__pydantic_core_schema__
    if schema["type"] != "model" or schema["schema"]["type"] != "model-fields":
        raise TypeError(f"{model.__name__} is not a plain model")
    fields = dict(schema["schema"]["fields"])
    for name, info in model.model_fields.items():
        for marker in info.metadata:
            if isinstance(marker, Plainest):
                fields[name] = {**fields[name], "schema": marker.schema}
    return {**schema["schema"], "fields": fields}


@dataclass(frozen=True)
class _NotPlain:
    """A record the plainest schema does not take, handed back as it came for the model's own validation."""

    record: Any


# Validates a list of records in one call; each item comes back as (field values, extra, fields set), or _NotPlain.
_PLAINEST_RECORDS = SchemaValidator(
    core_schema.list_schema(
        core_schema.union_schema(
            [_plainest_fields(Customer), core_schema.no_info_plain_validator_function(_NotPlain)], mode="left_to_right"
        )
    ),
    Customer.__pydantic_core_schema__.get("config"),
)
_assemble = model_assembler(Customer)


# One record: (field values, extra, fields set), or a ValidationError when it is not spelled plainly.
_PLAINEST_CUSTOMER = SchemaValidator(_plainest_fields(Customer), Customer.__pydantic_core_schema__.get("config"))


def _plainest_first(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        values, _, fields_set = _PLAINEST_CUSTOMER.validate_python(value)
    except ValidationError:
        return handler(value)  # the model decides, and words the errors
    return _assemble(values, fields_set)


# Annotated[Customer, PlainestFirst] validates one customer as the model does, errors included, only faster: a record
# spelled plainly in pydantic-core alone (about 3 us instead of 15), any other through the model. The JSON schema is
# the model's.
PlainestFirst = WrapValidator(_plainest_first)


def customers_from(records: list[Any]) -> list[Customer | ValidationError]:
    """Validate each record as `Customer.model_validate(record)` does, errors included, only faster.

    The model's own validators run a Python check on every number (a boolean or a badly formed string gets its own
    message): about 15 us a customer. Most records spell every value plainly ("15", 15, "10.02", "SC"): those are
    validated by pydantic-core alone, the whole list in one call (about 3 us a customer), and each Customer is
    assembled as `model_construct` assembles it. Any other record, valid or not, goes through the model's own
    validation, which decides and words the errors.
    """
    customers: list[Customer | ValidationError] = []
    for item in _PLAINEST_RECORDS.validate_python(records):
        if isinstance(item, _NotPlain):
            try:
                customers.append(Customer.model_validate(item.record))
            except ValidationError as exc:
                customers.append(exc)
            continue
        values, _, fields_set = item
        customers.append(_assemble(values, fields_set))
    return customers


class Prediction(BaseModel):
    """The answer for one customer."""

    churn: bool = Field(description="True when score > threshold.")
    label: str = Field(description='"True" or "False", as the reference function answers.', examples=["True"])
    score: float = Field(description="The model's churn probability, 0 to 1.", examples=[0.73])
    threshold: float = Field(description="The decision threshold applied to the score.", examples=[0.39])
    model: ModelInfo = Field(description="The model that scored: its version, threshold and SageMaker variant.")

    @classmethod
    def from_score(cls, score: float, model: ModelInfo) -> Prediction:
        """Apply the model's decision threshold to a score."""
        return cls(**verdict(score, model.threshold), threshold=model.threshold, model=model)


_LABELS = ("False", "True")  # str(churn), looked up


def verdict(score: float, threshold: float) -> dict[str, Any]:
    """Return a Prediction's churn, label and score: churn when the score is above the threshold."""
    churn = churns(score, threshold)
    return {"churn": churn, "label": _LABELS[churn], "score": score}


class BatchRequest(BaseModel):
    """Many customers scored in one request."""

    # Items are validated one by one in the handler, so that one bad record does not reject the others;
    # SkipValidation keeps the Customer schema in the OpenAPI document.
    customers: list[SkipValidation[Customer]] = Field(
        min_length=1,
        description=f"1 to {MAX_BATCH_SIZE} customers; more is answered with 413.",
        json_schema_extra={"maxItems": MAX_BATCH_SIZE},
    )

    def __repr__(self) -> str:
        # Powertools logs the route's arguments with an eager f-string, even at WARNING: the records' own repr
        # would be built on every batch, and would put every Phone in the log at DEBUG.
        return f"BatchRequest(customers=<{len(self.customers)} records>)"


class BatchItem(BaseModel):
    """The outcome for one record of a batch: a prediction, or the error that stopped it."""

    index: int = Field(description="Position of the record in the request's customers list.")
    churn: bool | None = None
    label: str | None = None
    score: float | None = None
    error: ErrorInfo | None = None
    variant: str | None = Field(
        default=None,
        description="The SageMaker variant that scored this record, only when the batch was split over several.",
        exclude_if=lambda v: v is None,
    )


class BatchResponse(BaseModel):
    """Results in input order, and how many records were scored or refused."""

    results: list[BatchItem]
    scored: int
    failed: int
    threshold: float
    model: ModelInfo = Field(description="The model that scored the batch: its version, threshold and variant.")


class TransformationState(BaseModel):
    """Whether this container holds the transformation, and why not."""

    loaded: bool
    error: str | None = Field(default=None, description="Why not: the error code.", exclude_if=lambda v: v is None)


class EndpointState(BaseModel):
    """The SageMaker endpoint's DescribeEndpoint status; its name stays internal."""

    status: str = Field(
        examples=["InService"],
        description="SageMaker's EndpointStatus (InService, Creating, Updating, Failed...), or Unavailable when "
        "DescribeEndpoint refuses (no such endpoint, no permission), or Unreachable when it does not answer in time.",
    )


class ServedModel(BaseModel):
    """The model this function answers with, and whether the endpoint was seen serving it."""

    version: str = Field(description="The pinned model version, as every answer names it.")
    threshold: float = Field(description="The cut-off the function applies.")
    served: bool | None = Field(
        default=None,
        description="Where the stack hosts the model: whether the endpoint's configuration and model load the pinned "
        "model archive (false: another model, or not found out). Null where the stack does not host it.",
    )


class Readiness(BaseModel):
    """The readiness report: `ready` only when the transformation is loaded and the endpoint is InService (and, where
    the stack hosts the model, serves the pinned one)."""

    status: str = Field(examples=["ready"])
    transformation: TransformationState
    endpoint: EndpointState
    model: ServedModel | None = Field(default=None, exclude_if=lambda v: v is None)
