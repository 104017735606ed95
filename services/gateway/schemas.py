"""The bodies the HTTP API accepts and returns.

Request bodies refuse unknown fields, so that a misspelt field is an error instead of a
silently ignored change. Answers relayed from other services allow extra fields: those
services may add fields (DESIGN: add freely, never rename) before the gateway names them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal, Self

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

from contracts.gateway import Role
from contracts.values import Moment
from contracts.voting import MIN_WINDOW, VoteStatus, VotingKind, VotingOption, VotingStatus


def _not_blank(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be blank")
    return stripped


# After a field's length bounds: a non-blank string, kept without surrounding spaces. The
# bounds apply to the string as sent, as the schema says; stripping first accepted a
# string longer than the schema's maxLength.
NotBlank = AfterValidator(_not_blank)
# Written with its offset as given ("+00:00", where pydantic would write "Z").
Timestamp = Annotated[
    AwareDatetime, PlainSerializer(datetime.isoformat, return_type=str, when_used="json")
]
# Long enough for any passphrase, short enough that hashing one is not a denial of service.
Password = Annotated[str, Field(min_length=8, max_length=1024)]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Relayed(BaseModel):
    model_config = ConfigDict(extra="allow")


def _whole_float_as_int(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# JSON Schema's integer: any number without a fraction, 67.0 included; a string or a
# boolean is not a number.
WholeNumber = Annotated[StrictInt, BeforeValidator(_whole_float_as_int)]


# Accounts ---------------------------------------------------------------------------


def _email_address(value: str) -> str:
    try:
        # Whether mail arrives is not checked (no DNS lookup), but the special-use domains
        # that can never receive any (.test, .local, .invalid, ...) are refused.
        return validate_email(
            value, check_deliverability=False, globally_deliverable=False
        ).normalized
    except EmailNotValidError as error:
        raise ValueError(f"not an e-mail address: {error}") from None


# The schema tells clients what the validator refuses, from the validator's own list: the
# pattern is documentation (ECMA regex, lookahead), the check is email_validator's.
_NOT_SPECIAL_USE = rf"^(?!.*[@.](?:{'|'.join(map(re.escape, SPECIAL_USE_DOMAIN_NAMES))})\.?$)"

EmailAddress = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    Field(max_length=320, json_schema_extra={"format": "email", "pattern": _NOT_SPECIAL_USE}),
    AfterValidator(_email_address),
]


class SignupRequest(RequestBody):
    email: EmailAddress
    password: Password
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=100), NotBlank]


class LoginRequest(RequestBody):
    # Any string: a malformed address is simply a wrong one here.
    email: Annotated[str, Field(max_length=320)]
    password: Annotated[str, Field(max_length=1024)]


class UserOut(BaseModel):
    id: str
    email: str
    display_name: str


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the token expires")


class PreferencesOut(BaseModel):
    reminders: bool = Field(description="a reminder before each voting starts")
    updates: bool = Field(description="news from the operator (marketing consent)")
    show_paid: bool = Field(description="list paid votings")


class PreferencesPatch(RequestBody):
    reminders: StrictBool | None = None
    updates: StrictBool | None = None
    show_paid: StrictBool | None = None


class ProfileOut(UserOut):
    role: Role
    credits: int = Field(description="credits the user can spend now")
    credits_reserved: int = Field(
        default=0, description="credits held for paid votes that are still being confirmed"
    )
    preferences: PreferencesOut


# Votings ----------------------------------------------------------------------------


class MyVote(Relayed):
    vote_id: str
    option_id: str
    status: VoteStatus


class VotingTile(Relayed):
    id: str
    title: str
    description: str
    kind: VotingKind
    cost: int = Field(description="credits a vote costs (0 when free)")
    opens_at: Timestamp
    closes_at: Timestamp
    closed_at: Timestamp | None = Field(
        default=None, description="when the operator closed it before closes_at"
    )
    status: VotingStatus
    options: list[VotingOption]
    registered: bool
    my_vote: MyVote | None = None


class CastVoteRequest(RequestBody):
    option_id: Annotated[str, StringConstraints(min_length=1, max_length=200), NotBlank]


class VoteOut(Relayed):
    vote_id: str
    status: VoteStatus
    voting_id: str
    option_id: str
    reason: str | None = Field(
        default=None, description="why a rejected vote was not counted (an error code)"
    )


class OptionResult(Relayed):
    id: str
    label: str
    votes: int


class ResultsOut(Relayed):
    voting_id: str
    status: VotingStatus
    total: int = Field(description="votes counted")
    options: list[OptionResult]


class ScheduleVotingRequest(RequestBody):
    """A voting to schedule; it closes at least a second after it opens."""

    title: Annotated[str, StringConstraints(min_length=1, max_length=200), NotBlank]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)] = ""
    options: list[Annotated[str, StringConstraints(min_length=1, max_length=200), NotBlank]] = (
        Field(
            min_length=2,
            max_length=100,
            json_schema_extra={"uniqueItems": True},
            description="the labels, each different from the others once trimmed",
        )
    )
    kind: VotingKind
    opens_at: Moment = Field(examples=["2026-12-31T18:00:00+01:00"])
    closes_at: Moment = Field(examples=["2026-12-31T19:00:00+01:00"])

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(set(self.options)) != len(self.options):
            raise ValueError("option labels must differ from each other")
        if self.closes_at - self.opens_at < MIN_WINDOW:
            raise ValueError("closes_at must be at least one second after opens_at")
        return self


class RescheduleVotingRequest(RequestBody):
    opens_at: Moment = Field(examples=["2026-12-31T18:30:00+01:00"])
    closes_at: Moment = Field(examples=["2026-12-31T19:30:00+01:00"])

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.closes_at - self.opens_at < MIN_WINDOW:
            raise ValueError("closes_at must be at least one second after opens_at")
        return self


# Credits ----------------------------------------------------------------------------


class GrantCreditsRequest(RequestBody):
    # A string ("5") from a script is more likely a bug than an intent; 5.0 is five.
    amount: Annotated[WholeNumber, Field(gt=0, le=1_000_000)]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500), NotBlank]


class BalanceOut(Relayed):
    user_id: str
    balance: int = Field(description="credits owned, including reserved ones")
    reserved: int = Field(default=0, description="credits held for pending paid votes")
    available: int = Field(description="credits that can be spent now")


class CreditPackOut(Relayed):
    id: str
    name: str
    credits: int
    price_cents: int
    currency: str = Field(examples=["eur"])


class CheckoutRequest(RequestBody):
    pack_id: Annotated[str, StringConstraints(min_length=1, max_length=100), NotBlank]


RECEIPT_EXAMPLE = "LV-20260514-P-7K2M9QX4TB3F"


class CheckoutOut(Relayed):
    checkout_url: str = Field(description="where to send the user's browser to pay")
    session_id: str


class LedgerEntryOut(Relayed):
    at: Timestamp
    kind: str = Field(examples=["purchase", "grant", "vote", "refund"])
    amount: int = Field(description="the change: negative when credits were taken")
    reason: str
    reference: str | None = None
    receipt_id: str | None = Field(
        default=None, description="a purchase's or a refund's receipt", examples=[RECEIPT_EXAMPLE]
    )
    receipt_url: str | None = Field(
        default=None,
        description="where the caller downloads that receipt as a PDF (their own ledger only)",
        examples=[f"/api/v1/me/credits/receipts/{RECEIPT_EXAMPLE}"],
    )


class LedgerOut(Relayed):
    user_id: str
    balance: int
    entries: list[LedgerEntryOut] = Field(description="newest first")


class WebhookReceived(BaseModel):
    received: Literal[True] = True
