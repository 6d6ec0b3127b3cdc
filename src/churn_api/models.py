"""Request and response models; aliases are the reference payload's field names."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _no_booleans(value: Any) -> Any:
    # pydantic's lax mode reads true/false as 1/0; a boolean in a numeric field is a client bug.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


# Numbers arrive as JSON numbers or as numeric strings ("15"), the way the reference payload sends them.
Count = Annotated[int, BeforeValidator(_strip), BeforeValidator(_no_booleans), Field(ge=0)]
Amount = Annotated[float, BeforeValidator(_strip), BeforeValidator(_no_booleans), Field(ge=0, allow_inf_nan=False)]
Category = Annotated[str, BeforeValidator(_strip), Field(min_length=1, max_length=64)]


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
