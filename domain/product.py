"""Product: one product of an account, its producer, and its coproductions.

A coproduction shares the producer's part of every sale with a coproducer:
invited (by the owner, with a share in basis points and a start instant) ->
accepted | declined; invited or accepted -> ended (by the owner). The coproducer's
answer reaches payledger through the host platform (the `checkout` actor, with the
"record partner actions" permission): payledger never talks to the coproducer.

A party has at most one live (invited or accepted) coproduction per product; after it
is declined or ended the owner may invite the party again. Past coproductions stay in
the list, so the rules in force at any instant can be read back (`coproducers_at`):
a sale takes the rules in force at its own business instant (DESIGN.md §3).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict
from uuid import UUID, uuid5

import pydantic
from eventsourcing.domain import event

from payledger.domain.envelope import LedgerAggregate, LedgerCreated, LedgerEvent
from payledger.domain.errors import InvalidTransition, ValidationError
from payledger.domain.money import BPS_WHOLE
from payledger.domain.permissions import PLATFORM_PARTY, Permission
from payledger.domain.splits import Share, SplitRules

NAMESPACE = UUID("7d4b8f0e-2a61-4e35-9c0f-3b6e1a9d5f27")


class ProductStatus(StrEnum):
    ACTIVE = "active"


class CoproductionStatus(StrEnum):
    INVITED = "invited"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    ENDED = "ended"


LIVE = (CoproductionStatus.INVITED, CoproductionStatus.ACCEPTED)


class Coproduction(TypedDict):
    """One invitation of a coproducer to share the producer's part, and its answer."""

    coproducer: str
    bps: int
    starts_at: datetime
    status: CoproductionStatus
    invited_at: datetime
    accepted_at: datetime | None
    ended_at: datetime | None


class Product(LedgerAggregate):
    TOPIC = "payledger:Product"
    KIND = "Product"
    READ = Permission.VIEW_PRODUCTS

    @staticmethod
    def create_id(account: str, product_id: str) -> UUID:
        return uuid5(NAMESPACE, f"{account}\n{product_id}")

    @classmethod
    def register(
        cls, account: str, product_id: str, name: str, affiliate_commission_bps: int | None,
    ) -> Product:
        """Check the values, then register the product; its producer party is the
        account that registers it (no account names another's wallet)."""
        if affiliate_commission_bps is not None and not 1 <= affiliate_commission_bps <= BPS_WHOLE:
            raise ValidationError("affiliate_commission_bps",
                                  f"must be 1 to {BPS_WHOLE} basis points, or none")
        return cls(id=cls.create_id(account, product_id), product_id=product_id, name=name,
                   producer=account, affiliate_commission_bps=affiliate_commission_bps)

    class Registered(LedgerCreated):
        TOPIC = "payledger:Product.Registered"
        product_id: str
        name: str
        producer: str
        affiliate_commission_bps: int | None

    @event(Registered)
    def __init__(
        self, id: UUID, product_id: str, name: str, producer: str,
        affiliate_commission_bps: int | None,
    ) -> None:
        self.product_id = product_id
        self.name = name
        self.producer = producer
        self.affiliate_commission_bps = affiliate_commission_bps
        self.coproductions: list[Coproduction] = []
        self.subscription_plans: dict[str, dict[str, Any]] = {}  # by plan id
        self.status = ProductStatus.ACTIVE

    # -- subscription plans ----------------------------------------------------------

    def register_plan(self, plan: dict[str, Any]) -> None:
        """A subscription plan of the product: what support may switch a subscriber to
        (never a price it types)."""
        if plan["product_id"] != self.product_id:
            raise ValidationError("plan.product_id", f"must be {self.product_id!r}")
        if plan["plan_id"] in self.subscription_plans:
            raise self.refuse("register a plan", f"plan {plan['plan_id']} is registered: "
                                                 "register a new plan id")
        self._plan_registered(plan=plan)

    class SubscriptionPlanRegistered(LedgerEvent):
        TOPIC = "payledger:Product.SubscriptionPlanRegistered"
        plan: dict[str, Any]

    @event(SubscriptionPlanRegistered)
    def _plan_registered(self, plan: dict[str, Any]) -> None:
        self.subscription_plans[plan["plan_id"]] = plan

    # -- affiliate commission ------------------------------------------------------

    def set_affiliate_commission(self, bps: int | None) -> None:
        if bps is not None and not 1 <= bps <= BPS_WHOLE:
            raise ValidationError("bps", f"must be 1 to {BPS_WHOLE} basis points, or none")
        if bps == self.affiliate_commission_bps:
            raise self.refuse("set the affiliate commission", f"it is already {bps}")
        self._affiliate_commission_set(bps=bps)

    class AffiliateCommissionSet(LedgerEvent):
        TOPIC = "payledger:Product.AffiliateCommissionSet"
        bps: int | None

    @event(AffiliateCommissionSet)
    def _affiliate_commission_set(self, bps: int | None) -> None:
        self.affiliate_commission_bps = bps

    # -- coproductions ---------------------------------------------------------------

    def invite_coproducer(self, coproducer: str, bps: int, starts_at: datetime) -> None:
        command = "invite a coproducer"
        if coproducer in (self.producer, PLATFORM_PARTY):
            raise ValidationError("coproducer", f"{coproducer} cannot coproduce this product")
        if not 1 <= bps <= BPS_WHOLE:
            raise ValidationError("bps", f"must be 1 to {BPS_WHOLE} basis points")
        live = self._live(coproducer)
        if live is not None:
            raise self._refuse_coproduction(live["status"], command, coproducer)
        self._check_total(bps)
        self._coproducer_invited(coproducer=coproducer, bps=bps, starts_at=starts_at)

    class CoproducerInvited(LedgerEvent):
        TOPIC = "payledger:Product.CoproducerInvited"
        coproducer: str
        bps: int
        starts_at: datetime

    @event(CoproducerInvited)
    def _coproducer_invited(self, coproducer: str, bps: int, starts_at: datetime) -> None:
        self.coproductions.append({
            "coproducer": coproducer, "bps": bps, "starts_at": starts_at,
            "status": CoproductionStatus.INVITED, "invited_at": self.updated_at,
            "accepted_at": None, "ended_at": None,
        })

    def accept_coproduction(self, coproducer: str, consent_reference: str | None = None) -> None:
        """The coproducer's answer (its own principal is the event's actor), or an
        operator's with the coproducer's `consent_reference`."""
        self._require_invited("accept a coproduction", coproducer)
        self._check_total(self._latest(coproducer)["bps"])  # type: ignore[index]
        self._coproduction_accepted(coproducer=coproducer, consent_reference=consent_reference)

    class CoproductionAccepted(LedgerEvent):
        TOPIC = "payledger:Product.CoproductionAccepted"
        coproducer: str
        consent_reference: str | None = None

    @event(CoproductionAccepted)
    def _coproduction_accepted(self, coproducer: str,
                               consent_reference: str | None = None) -> None:
        found = self._latest(coproducer)
        assert found is not None
        found["status"] = CoproductionStatus.ACCEPTED
        found["accepted_at"] = self.updated_at

    def decline_coproduction(self, coproducer: str, reason: str,
                             consent_reference: str | None = None) -> None:
        self._require_invited("decline a coproduction", coproducer)
        self._coproduction_declined(coproducer=coproducer, reason=reason,
                                    consent_reference=consent_reference)

    class CoproductionDeclined(LedgerEvent):
        TOPIC = "payledger:Product.CoproductionDeclined"
        coproducer: str
        reason: str
        consent_reference: str | None = None

    @event(CoproductionDeclined)
    def _coproduction_declined(self, coproducer: str, reason: str,
                               consent_reference: str | None = None) -> None:
        found = self._latest(coproducer)
        assert found is not None
        found["status"] = CoproductionStatus.DECLINED

    def end_coproduction(self, coproducer: str, reason: str) -> None:
        if self._live(coproducer) is None:
            raise self._refuse_coproduction(self._status(coproducer), "end a coproduction",
                                            coproducer)
        self._coproduction_ended(coproducer=coproducer, reason=reason)

    class CoproductionEnded(LedgerEvent):
        TOPIC = "payledger:Product.CoproductionEnded"
        coproducer: str
        reason: str

    @event(CoproductionEnded)
    def _coproduction_ended(self, coproducer: str, reason: str) -> None:
        found = self._latest(coproducer)
        assert found is not None
        found["status"] = CoproductionStatus.ENDED
        found["ended_at"] = self.updated_at

    # -- the rules in force ------------------------------------------------------------

    def coproducers_at(self, instant: datetime) -> list[tuple[str, int]]:
        """(coproducer, bps) of every coproduction accepted, started and not ended by then."""
        return [
            (c["coproducer"], c["bps"]) for c in self.coproductions
            if c["accepted_at"] is not None and c["accepted_at"] <= instant
            and c["starts_at"] <= instant
            and (c["ended_at"] is None or instant < c["ended_at"])
        ]

    def coproduction(self, coproducer: str) -> Coproduction | None:
        """The latest coproduction of `coproducer` (live or not), if any."""
        return self._latest(coproducer)

    # -- guards -------------------------------------------------------------------------

    def _latest(self, coproducer: str) -> Coproduction | None:
        for found in reversed(self.coproductions):
            if found["coproducer"] == coproducer:
                return found
        return None

    def _live(self, coproducer: str) -> Coproduction | None:
        found = self._latest(coproducer)
        return found if found is not None and found["status"] in LIVE else None

    def _status(self, coproducer: str) -> str:
        found = self._latest(coproducer)
        return "none" if found is None else str(found["status"])

    def _require_invited(self, command: str, coproducer: str) -> None:
        status = self._status(coproducer)
        if status != CoproductionStatus.INVITED:
            raise self._refuse_coproduction(status, command, coproducer)

    def _refuse_coproduction(self, state: str, command: str, coproducer: str) -> InvalidTransition:
        what = "was never invited" if state == "none" else f"is {state}"
        return InvalidTransition("Coproduction", state, command,
                                 f"{coproducer} {what} on product {self.product_id}")

    def _check_total(self, bps: int) -> None:
        taken = sum(c["bps"] for c in self.coproductions
                    if c["status"] == CoproductionStatus.ACCEPTED)
        if taken + bps > BPS_WHOLE:
            raise ValidationError(
                "bps", f"accepted coproducers already hold {taken} of {BPS_WHOLE} basis points")


def split_rules(
    producer: str, coproducers: list[tuple[str, int]], affiliate: tuple[str, int] | None,
    platform_fee_bps: int, platform_fee_fixed: int,
) -> SplitRules:
    """The SplitRules of a sale from the rules in force; a party named twice is refused."""
    try:
        return SplitRules(
            producer=producer, platform=PLATFORM_PARTY, platform_fee_bps=platform_fee_bps,
            platform_fee_fixed=platform_fee_fixed,
            affiliate=None if affiliate is None else Share(party=affiliate[0], bps=affiliate[1]),
            coproducers=tuple(Share(party=party, bps=bps) for party, bps in coproducers),
        )
    except pydantic.ValidationError as error:
        field = "affiliate" if affiliate is not None else "split"
        raise ValidationError(field, error.errors()[0]["msg"]) from None
