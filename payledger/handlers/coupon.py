"""Handlers of the coupon commands, and the redemption a sale makes."""

from __future__ import annotations

from uuid import UUID

from payledger.domain import commands as c
from payledger.domain.coupon import Coupon
from payledger.domain.envelope import current_envelope
from payledger.domain.errors import NotFound, ValidationError
from payledger.domain.invoice import Invoice
from payledger.handlers.lookup import find
from payledger.settings import Settings
from payledger.wiring import AggregateWiring
from payledger.work import Work


def create_coupon(work: Work, cmd: c.CreateCoupon, _: Settings) -> UUID:
    account = work.account
    if find(work, Coupon, Coupon.create_id(account, cmd.code)) is not None:
        raise ValidationError("code", f"coupon {cmd.code} already exists")
    coupon = Coupon.create(
        account=account, code=cmd.code, kind=cmd.kind, value=cmd.value, currency=cmd.currency,
        product_ids=cmd.product_ids, usage_limit=cmd.usage_limit,
        valid_from=cmd.valid_from or current_envelope().at, valid_until=cmd.valid_until,
    )
    return work.add(coupon).id


def disable_coupon(work: Work, cmd: c.DisableCoupon, _: Settings) -> UUID:
    coupon = load_coupon(work, cmd.code, "code")
    coupon.disable(cmd.reason)
    return coupon.id


def load_coupon(work: Work, code: str, field: str) -> Coupon:
    """The account's coupon of that code; another account's code is unknown here."""
    try:
        return work.get(Coupon, Coupon.create_id(work.account, code))
    except NotFound:
        raise ValidationError(field, f"unknown coupon {code}") from None


def redeem_coupon(work: Work, invoice: Invoice, code: str) -> None:
    """Use the coupon on a new invoice: saved together, so the usage limit is exact."""
    coupon = load_coupon(work, code, "coupon_code")
    products = [item["product_id"] for item in invoice.items]
    amount = coupon.redeem(invoice.id, products, invoice.subtotal, invoice.currency)
    invoice.apply_discount(amount, coupon.code)


COUPONS = AggregateWiring(
    kind=Coupon,
    app="ledger",
    handlers={c.CreateCoupon: create_coupon, c.DisableCoupon: disable_coupon},
)
