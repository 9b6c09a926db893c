"""The base of every command, and the field types commands share.

Each command declares which principal kinds may run it and the permission each kind
needs (`allowed`), and may refuse a principal for what it asks (`authorize`).
Constructing one with bad input raises `payledger.domain.errors.ValidationError`
naming the field (dotted for nested fields), never pydantic's own error, so callers
handle one hierarchy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar
from uuid import UUID

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from payledger.domain.errors import Forbidden, ValidationError
from payledger.domain.money import currency_code
from payledger.domain.permissions import Actor, Kind, Permission
from payledger.domain.text import clean_line, clean_text
from payledger.domain.time import aware, timezone_name

Cents = Annotated[int, Field(ge=1, le=10**12, strict=True)]


def _in_field(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Run a domain check as a pydantic one, so its error is named by the field it is on."""

    def validate(value: Any) -> Any:
        try:
            return check(value)
        except ValidationError as error:
            raise PydanticCustomError("payledger", error.reason) from None

    return validate


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
                 AfterValidator(_in_field(clean_line))]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
                     AfterValidator(_in_field(clean_text))]
Instant = Annotated[datetime, AfterValidator(_in_field(lambda v: aware(v, "instant")))]
Currency = Annotated[str, AfterValidator(_in_field(currency_code))]
Timezone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
                     AfterValidator(_in_field(timezone_name))]


def from_pydantic(error: pydantic.ValidationError) -> ValidationError:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "command"
    return ValidationError(field, first["msg"])


class Command(BaseModel):
    """Fields every command may carry besides its own."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    allowed: ClassVar[Mapping[Kind, Permission]]
    """The principal kinds that may run it, and the permission each needs."""
    AHEAD: ClassVar[frozenset[str]] = frozenset()
    """Its instant fields that may lie ahead (due dates, validity), up to the horizon;
    the others are business instants, no later than the clock."""

    at: Instant | None = None
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    correlation_id: UUID | None = None
    causation_id: UUID | None = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as error:
            raise from_pydantic(error) from None

    def authorize(self, actor: Actor) -> None:
        """Refuses what this principal may not ask, beyond `allowed` (its kind and
        permission were checked before): only a platform principal carries a
        conversation's ids across services; an account's come from its command."""
        if actor.is_platform:
            return
        for name in ("correlation_id", "causation_id"):
            if getattr(self, name) is not None:
                raise Forbidden(actor.id, type(self).__name__,
                                f"{name} is passed by platform principals only")

    def check_instants(self, now: datetime, earliest: datetime, skew: timedelta,
                       horizon: timedelta) -> None:
        """Every instant it carries lies in business time's bounds: none before
        `earliest`; a business instant (`at`, a payment's) no later than `now + skew`; a
        due date or validity (`AHEAD`) no later than `now + horizon`. One account's
        instant at year 9999 would otherwise stop every account's ticks."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            if not isinstance(value, datetime):
                continue
            if value < earliest:
                raise ValidationError(name, f"is before {earliest.date().isoformat()}, "
                                            "where business time starts")
            ahead = name in self.AHEAD
            latest = now + (horizon if ahead else skew)
            if value > latest:
                what = f"the clock plus {horizon.days} days" if ahead else "the clock"
                raise ValidationError(name, f"is after {latest.isoformat()}: no later than "
                                            f"{what}")

    def acting_account(self, actor: Actor) -> str:
        """The account whose aggregates the command touches: the actor's own, but for
        a partner's answer to another account's invitation (`PartnerAnswer`)."""
        return actor.account

    def digest_fields(self) -> dict[str, Any]:
        """What makes two commands "the same request" for an idempotency key."""
        meta = {"at", "idempotency_key", "correlation_id", "causation_id"}
        return self.model_dump(mode="json", exclude=meta)


class PartnerAnswer(Command):
    """A partner's answer to an invitation addressed to it: a coproducer accepting or
    declining, an affiliate asking for or leaving an affiliation.

    The one exception to "an account principal touches only its own account's
    aggregates" (docs/decisions/0002-partners-answer-for-themselves.md): the partner's
    own principal (permission `answer_partnerships`) answers on the producer's
    aggregate, naming `producer_account`, and the event records the partner as its
    actor. The producer's principals cannot answer for it; a platform operator can,
    only with the partner's `consent_reference`, which the event records.
    """

    producer_account: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                       max_length=200)] | None = None
    consent_reference: Text | None = None

    @property
    def partner(self) -> str:
        raise NotImplementedError

    def acting_account(self, actor: Actor) -> str:
        if actor.is_platform or self.producer_account is None:
            return actor.account
        return self.producer_account

    def authorize(self, actor: Actor) -> None:
        super().authorize(actor)
        name = type(self).__name__
        if actor.is_platform:
            if self.consent_reference is None:
                raise Forbidden(actor.id, name, "an operator answers for a partner only with "
                                                "the partner's consent_reference")
            return
        if self.partner != actor.account:
            raise Forbidden(actor.id, name, f"answers for its own account only, not for "
                                            f"{self.partner!r}")
        if self.producer_account is None:
            raise ValidationError("producer_account", "a partner names the producer's "
                                                      "account it answers")
        if self.consent_reference is not None:
            raise ValidationError("consent_reference", "records an operator's evidence of "
                                                       "consent; a partner answers itself")
