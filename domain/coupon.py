"""Coupon: a discount code of one account, redeemed atomically with the sale it lowers.

States: active -> exhausted (its usage limit reached) | disabled. Expiry is not a state
of its own: the validity window is checked against the sale's business instant, so a
coupon needs no timer. The id derives from the account and the normalised code, so a
sale finds the coupon by its code, and a code of another account is simply unknown.

Coupons are the one aggregate a sale may wait on (DESIGN.md §3): the sale saves the
redemption with its invoice in one transaction, so two sales racing for the last use
conflict on the coupon, the loser is retried and then refused: the limit is exact.

A coupon keeps the count of its uses, not the invoices (each invoice records its own
coupon, and each `Redeemed` event names its invoice). An invoice redeems once: it is
redeemed as it is created, in the transaction that stores its creation, which the store
takes once per invoice id, and it takes one discount; within one batch not yet saved,
the coupon refuses an invoice among its pending redemptions. So a sale's cost does not
grow with the coupon's history: the cache copies a few fields, and a load with an empty
cache reads the coupon's latest snapshot (`SNAPSHOT_INTERVAL`) and the events after it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from payledger.domain.envelope import LedgerAggregate, LedgerCreated, LedgerEvent
from payledger.domain.errors import InvalidTransition, ValidationError
from payledger.domain.money import BPS_WHOLE, bps_of, currency_code
from payledger.domain.permissions import Permission

NAMESPACE = UUID("0b7e2f52-3f4d-4c59-a7a1-5f8c4f0d2c61")
KINDS = ("percent", "fixed")
_CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{1,39}")

class CouponStatus(StrEnum):
    ACTIVE = "active"
    EXHAUSTED = "exhausted"
    DISABLED = "disabled"


def normalize_code(code: str) -> str:
    """A coupon code as stored: trimmed, upper case, 2-40 of A-Z 0-9 _ -."""
    normal = code.strip().upper()
    if not _CODE.fullmatch(normal):
        raise ValidationError("code", "must be 2 to 40 letters, digits, '_' or '-'")
    return normal


class Coupon(LedgerAggregate):
    TOPIC = "payledger:Coupon"
    KIND = "Coupon"
    READ = Permission.VIEW_PRODUCTS
    SNAPSHOT_INTERVAL = 20
    """A snapshot every 20 of its events, even where the Ledger takes none of its other
    aggregates: each sale with the coupon loads it, and its history grows by one event
    per sale."""
    class_version = 2
    """Version 1 also kept `redemptions` (invoice id -> discount, one entry per sale)."""

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A snapshot taken by version 1 drops its redemptions: the count stays."""
        state.pop("redemptions", None)

    @staticmethod
    def create_id(account: str, code: str) -> UUID:
        return uuid5(NAMESPACE, f"{account}\n{normalize_code(code)}")

    @classmethod
    def create(
        cls, account: str, code: str, kind: str, value: int, currency: str | None,
        product_ids: Sequence[str], usage_limit: int | None, valid_from: datetime,
        valid_until: datetime | None,
    ) -> Coupon:
        """Check every value, then create the coupon (its id from `account` and `code`)."""
        code = normalize_code(code)
        currency = _check_value(kind, value, currency)
        if usage_limit is not None and usage_limit < 1:
            raise ValidationError("usage_limit", "must be at least 1 (or none for unlimited)")
        if valid_until is not None and valid_until <= valid_from:
            raise ValidationError("valid_until", "must be after valid_from")
        if any(not p.strip() for p in product_ids):
            raise ValidationError("product_ids", "must not hold an empty product id")
        return cls(
            id=cls.create_id(account, code), code=code, kind=kind, value=value,
            currency=currency, product_ids=sorted({p.strip() for p in product_ids}),
            usage_limit=usage_limit, valid_from=valid_from, valid_until=valid_until,
        )

    class Created(LedgerCreated):
        TOPIC = "payledger:Coupon.Created"
        code: str
        kind: str
        value: int
        currency: str | None
        product_ids: list[str]
        usage_limit: int | None
        valid_from: datetime
        valid_until: datetime | None

    @event(Created)
    def __init__(
        self,
        id: UUID,
        code: str,
        kind: str,
        value: int,
        currency: str | None,
        product_ids: list[str],
        usage_limit: int | None,
        valid_from: datetime,
        valid_until: datetime | None,
    ) -> None:
        self.code = code
        self.kind = kind
        self.value = value
        self.currency = currency
        self.product_ids = product_ids
        self.usage_limit = usage_limit
        self.valid_from = valid_from
        self.valid_until = valid_until
        self.status = CouponStatus.ACTIVE
        self.used = 0

    # -- redemption ---------------------------------------------------------------

    def discount_for(self, subtotal: int) -> int:
        """What this coupon takes off `subtotal`: always leaves at least one cent to pay."""
        wanted = bps_of(subtotal, self.value) if self.kind == "percent" else self.value
        return min(wanted, subtotal - 1)

    def redeem(
        self, invoice_id: UUID, product_ids: Sequence[str], subtotal: int, currency: str
    ) -> int:
        """Use the coupon on a sale made now; return the discount it gives."""
        command = "redeem"
        self._require(command, CouponStatus.ACTIVE)
        self._check_window(command)
        if any(isinstance(pending, Coupon.Redeemed) and pending.invoice_id == invoice_id
               for pending in self.pending_events):
            raise self.refuse(command, f"invoice {invoice_id} already redeemed it")
        others = sorted(set(product_ids) - set(self.product_ids)) if self.product_ids else []
        if others:
            raise ValidationError("coupon_code",
                                  f"{self.code} does not apply to {', '.join(others)}")
        if self.currency is not None and self.currency != currency:
            raise ValidationError("currency", f"{self.code} is a {self.currency} discount")
        amount = self.discount_for(subtotal)
        if amount < 1:
            raise ValidationError("coupon_code", f"{self.code} gives no discount on {subtotal}")
        self._redeemed(invoice_id=invoice_id, amount=amount)
        return amount

    def _check_window(self, command: str) -> None:
        if self.now < self.valid_from:
            raise InvalidTransition(self.KIND, "not yet valid", command,
                                    f"{self.code} is valid from {self.valid_from.isoformat()}")
        if self.valid_until is not None and self.now > self.valid_until:
            raise InvalidTransition(self.KIND, "expired", command,
                                    f"{self.code} expired at {self.valid_until.isoformat()}")

    class Redeemed(LedgerEvent):
        TOPIC = "payledger:Coupon.Redeemed"
        invoice_id: UUID
        amount: int

    @event(Redeemed)
    def _redeemed(self, invoice_id: UUID, amount: int) -> None:
        self.used += 1  # the event names the invoice and its discount; the coupon counts
        if self.usage_limit is not None and self.used >= self.usage_limit:
            self.status = CouponStatus.EXHAUSTED

    def disable(self, reason: str) -> None:
        self._require("disable", CouponStatus.ACTIVE, CouponStatus.EXHAUSTED)
        self._disabled(reason=reason)

    class Disabled(LedgerEvent):
        TOPIC = "payledger:Coupon.Disabled"
        reason: str

    @event(Disabled)
    def _disabled(self, reason: str) -> None:
        self.status = CouponStatus.DISABLED

    def _require(self, command: str, *states: str) -> None:
        if self.status not in states:
            detail = {CouponStatus.EXHAUSTED: f"its usage limit of {self.usage_limit} is reached",
                      CouponStatus.DISABLED: f"{self.code} was disabled"}.get(self.status, "")
            raise self.refuse(command, detail)


def _check_value(kind: str, value: int, currency: str | None) -> str | None:
    if kind == "percent":
        if not 1 <= value <= BPS_WHOLE:
            raise ValidationError("value", f"a percent coupon takes 1 to {BPS_WHOLE} basis points")
        if currency is not None:
            raise ValidationError("currency", "a percent coupon has no currency")
        return None
    if kind == "fixed":
        if value < 1:
            raise ValidationError("value", "a fixed coupon takes at least 1 minor unit")
        if currency is None:
            raise ValidationError("currency", "a fixed coupon needs its currency")
        return currency_code(currency)
    raise ValidationError("kind", f"must be one of {', '.join(KINDS)}")
