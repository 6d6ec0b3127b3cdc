"""Request and response models; aliases are the reference payload's field names."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SkipValidation, WithJsonSchema

MAX_BATCH_SIZE = 1000


def _no_booleans(value: Any) -> Any:
    # pydantic's lax mode reads true/false as 1/0; a boolean in a numeric field is a client bug.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


# Numbers arrive as JSON numbers or as numeric strings ("15"), the way the reference payload sends them;
# the published schema says so, so that generated clients and schemathesis send what the API accepts.
_COUNT_SCHEMA = {
    "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^\s*\+?\d+\s*$"}],
    "description": "A whole number >= 0, as a JSON number or a numeric string.",
}
_AMOUNT_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^\s*\+?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"},
    ],
    "description": "A finite number >= 0, as a JSON number or a numeric string.",
}
Count = Annotated[
    int, BeforeValidator(_strip), BeforeValidator(_no_booleans), Field(ge=0), WithJsonSchema(_COUNT_SCHEMA)
]
Amount = Annotated[
    float,
    BeforeValidator(_strip),
    BeforeValidator(_no_booleans),
    Field(ge=0, allow_inf_nan=False),
    WithJsonSchema(_AMOUNT_SCHEMA),
]
Category = Annotated[
    str,
    BeforeValidator(_strip),
    Field(min_length=1, max_length=64),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 64}),
]


class Customer(BaseModel):
    """One telecom customer, as the reference payload describes them."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=False)

    state: Category = Field(alias="State", examples=["SC"])
    account_length: Count = Field(alias="Account Length", examples=["15"])
    area_code: Count = Field(alias="Area Code", examples=["836"])
    # Phone identifies the customer: accepted for compatibility with the reference payload, never used or logged.
    phone: str | None = Field(default=None, alias="Phone", exclude=True, repr=False, examples=["158-8416"])
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


class Prediction(BaseModel):
    """The answer for one customer."""

    churn: bool = Field(description="True when score > threshold.")
    label: str = Field(description='"True" or "False", as the reference function answers.', examples=["True"])
    score: float = Field(description="The model's churn probability, 0 to 1.", examples=[0.73])
    threshold: float = Field(description="The decision threshold applied to the score.", examples=[0.39])

    @classmethod
    def from_score(cls, score: float, threshold: float) -> Prediction:
        """Apply the decision threshold to a score."""
        churn = score > threshold
        return cls(churn=churn, label=str(churn), score=score, threshold=threshold)


class BatchRequest(BaseModel):
    """Many customers scored in one request."""

    # Items are validated one by one in the handler, so that one bad record does not reject the others;
    # SkipValidation keeps the Customer schema in the OpenAPI document.
    customers: list[SkipValidation[Customer]] = Field(
        min_length=1,
        description=f"1 to {MAX_BATCH_SIZE} customers; more is answered with 413.",
        json_schema_extra={"maxItems": MAX_BATCH_SIZE},
    )


class ItemError(BaseModel):
    """Why one record of a batch was not scored."""

    code: str = Field(examples=["VALIDATION_ERROR"])
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class BatchItem(BaseModel):
    """The outcome for one record of a batch: a prediction, or the error that stopped it."""

    index: int = Field(description="Position of the record in the request's customers list.")
    churn: bool | None = None
    label: str | None = None
    score: float | None = None
    error: ItemError | None = None


class BatchResponse(BaseModel):
    """Results in input order, and how many records were scored or refused."""

    results: list[BatchItem]
    scored: int
    failed: int
    threshold: float
