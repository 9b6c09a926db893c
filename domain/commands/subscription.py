"""Commands on a subscription: the sale, its management, and its time-driven steps.

The sale needs SELL (its first invoice is created and charged in the same transaction);
management needs MANAGE_SUBSCRIPTIONS; the time-driven steps (period end, retry,
expiry of an incomplete subscription) need RECORD_PAYMENTS, like the invoice's own
expiry, and are dated by the command's `at`.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from payledger.domain.commands.base import Cents, Command, Currency, Text
from payledger.domain.commands.invoice import Sale
from payledger.domain.customer import Customer
from payledger.domain.permissions import P, either, platform_only


class SubscriptionPlan(BaseModel):
    """What a subscription charges, every `interval_months`, after an optional trial."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    plan_id: Text
    product_id: Text
    price: Cents
    currency: Currency
    interval_months: Literal[1, 3, 6, 12]
    trial_days: Annotated[int, Field(ge=0, le=365, strict=True)] = 0


class CreateSubscription(Sale):
    allowed = platform_only(P.SELL)

    subscription_id: UUID | None = None
    customer: Customer
    plan: SubscriptionPlan
    payment_method: Text
    warranty_days: Annotated[int, Field(ge=0, le=365)] = 7


class SubscriptionCommand(Command):
    subscription_id: UUID


class RenewSubscription(SubscriptionCommand):
    """The period's end: renew, skip a paused period, or end as scheduled (time-driven)."""

    allowed = platform_only(P.RUN_TIMED_STEPS)


class RetryRenewal(SubscriptionCommand):
    """A new charge request on the open cycle's invoice (time-driven)."""

    allowed = platform_only(P.RUN_TIMED_STEPS)


class ExpireSubscription(SubscriptionCommand):
    """An incomplete subscription whose first charge was not paid in time (time-driven)."""

    allowed = platform_only(P.RUN_TIMED_STEPS)


class CancelSubscription(SubscriptionCommand):
    allowed = either(P.MANAGE_SUBSCRIPTIONS)
    reason: Text
    at_period_end: bool = False


class PauseSubscription(SubscriptionCommand):
    allowed = either(P.MANAGE_SUBSCRIPTIONS)


class ResumeSubscription(SubscriptionCommand):
    allowed = either(P.MANAGE_SUBSCRIPTIONS)


class ReactivateSubscription(SubscriptionCommand):
    """Active again; with `charge`, a new cycle is invoiced and charged at once."""

    allowed = either(P.MANAGE_SUBSCRIPTIONS)
    charge: bool = False


class SetAutoRenew(SubscriptionCommand):
    allowed = either(P.MANAGE_SUBSCRIPTIONS)
    enabled: bool


class SwitchPlan(SubscriptionCommand):
    """From the next cycle on, to a plan the owner registered for the subscription's
    product (`RegisterSubscriptionPlan`): same product and currency, never a price the
    caller types."""

    allowed = either(P.MANAGE_SUBSCRIPTIONS)
    plan_id: Text


class ChangeChargeDate(SubscriptionCommand):
    allowed = either(P.MANAGE_SUBSCRIPTIONS)
    charge_day: Annotated[int, Field(ge=1, le=31, strict=True)]
