"""Affiliation: an affiliate's right to sell one product for a commission.

requested -> approved | refused; approved -> ended; refused or ended -> requested
again. The affiliate asks through the host platform (the `checkout` actor); approving,
refusing and ending need the "approve affiliates" permission. The commission is the one
the producer set on the product, copied when approved, so a later change of the
product's commission does not touch affiliations already approved.

One aggregate per (account, product, affiliate). Each approval opens a period
(`from`, `until`, `bps`); a sale takes the commission of the period in force at its
business instant (`commission_at`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TypedDict
from uuid import UUID, uuid5

from eventsourcing.domain import event

from payledger.domain.envelope import LedgerAggregate, LedgerCreated, LedgerEvent
from payledger.domain.errors import ValidationError
from payledger.domain.money import BPS_WHOLE
from payledger.domain.permissions import Permission

NAMESPACE = UUID("c2a9e6d1-8b4f-4f7a-b0e3-6d15f2c7a948")

class AffiliationStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REFUSED = "refused"
    ENDED = "ended"


CommissionPeriod = TypedDict(
    "CommissionPeriod", {"from": datetime, "until": datetime | None, "bps": int},
)
"""One approval's commission: in force from `from` until `until` (None while approved)."""


class Affiliation(LedgerAggregate):
    TOPIC = "payledger:Affiliation"
    KIND = "Affiliation"
    READ = Permission.VIEW_PRODUCTS

    @staticmethod
    def create_id(account: str, product_id: str, affiliate: str) -> UUID:
        return uuid5(NAMESPACE, f"{account}\n{product_id}\n{affiliate}")

    class Requested(LedgerCreated):
        TOPIC = "payledger:Affiliation.Requested"
        product_id: str
        affiliate: str
        consent_reference: str | None = None

    @event(Requested)
    def __init__(self, id: UUID, product_id: str, affiliate: str,
                 consent_reference: str | None = None) -> None:
        """Asked by the affiliate's own principal, or by an operator with its
        `consent_reference`."""
        self.product_id = product_id
        self.affiliate = affiliate
        self.status = AffiliationStatus.REQUESTED
        self.commission_bps: int | None = None
        self.reason: str | None = None
        self.periods: list[CommissionPeriod] = []

    def request_again(self, consent_reference: str | None = None) -> None:
        self._require("request an affiliation", AffiliationStatus.REFUSED, AffiliationStatus.ENDED)
        self._requested_again(consent_reference=consent_reference)

    class RequestedAgain(LedgerEvent):
        TOPIC = "payledger:Affiliation.RequestedAgain"
        consent_reference: str | None = None

    @event(RequestedAgain)
    def _requested_again(self, consent_reference: str | None = None) -> None:
        self.status = AffiliationStatus.REQUESTED
        self.reason = None

    def approve(self, commission_bps: int | None) -> None:
        command = "approve"
        self._require(command, AffiliationStatus.REQUESTED)
        if commission_bps is None:
            raise self.refuse(command, f"product {self.product_id} has no affiliate commission set")
        if not 1 <= commission_bps <= BPS_WHOLE:
            raise ValidationError("commission_bps", f"must be 1 to {BPS_WHOLE} basis points")
        self._approved(commission_bps=commission_bps)

    class Approved(LedgerEvent):
        TOPIC = "payledger:Affiliation.Approved"
        commission_bps: int

    @event(Approved)
    def _approved(self, commission_bps: int) -> None:
        self.status = AffiliationStatus.APPROVED
        self.commission_bps = commission_bps
        self.periods.append({"from": self.updated_at, "until": None, "bps": commission_bps})

    def reject(self, reason: str) -> None:
        self._require("refuse", AffiliationStatus.REQUESTED)
        self._refused(reason=reason)

    class Refused(LedgerEvent):
        TOPIC = "payledger:Affiliation.Refused"
        reason: str

    @event(Refused)
    def _refused(self, reason: str) -> None:
        self.status = AffiliationStatus.REFUSED
        self.reason = reason

    def end(self, reason: str, consent_reference: str | None = None) -> None:
        """Ended by the producer's side, or left by the affiliate (the event's actor)."""
        self._require("end", AffiliationStatus.APPROVED)
        self._ended(reason=reason, consent_reference=consent_reference)

    class Ended(LedgerEvent):
        TOPIC = "payledger:Affiliation.Ended"
        reason: str
        consent_reference: str | None = None

    @event(Ended)
    def _ended(self, reason: str, consent_reference: str | None = None) -> None:
        self.status = AffiliationStatus.ENDED
        self.reason = reason
        self.periods[-1]["until"] = self.updated_at

    def commission_at(self, instant: datetime) -> int | None:
        """The commission in force at `instant`, or None when not approved then."""
        for period in self.periods:
            if period["from"] <= instant and (period["until"] is None or instant < period["until"]):
                return int(period["bps"])
        return None

