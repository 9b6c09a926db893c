"""Commands on a coupon: created and disabled by the owner; redeemed by a sale."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from payledger.domain.commands.base import Command, Currency, Instant, Text, _in_field
from payledger.domain.coupon import normalize_code
from payledger.domain.permissions import P, account_only

Code = Annotated[str, AfterValidator(_in_field(normalize_code))]


class CreateCoupon(Command):
    """`value` is basis points for a percent coupon, minor units of `currency` for a fixed one.

    No `product_ids` means every product of the account; no `usage_limit`, unlimited;
    no `valid_from`, from the command's instant; no `valid_until`, no end.
    """

    allowed = account_only(P.MANAGE_COUPONS)

    code: Code
    kind: Literal["percent", "fixed"]
    value: Annotated[int, Field(ge=1, le=10**12, strict=True)]
    currency: Currency | None = None
    product_ids: Annotated[tuple[Text, ...], Field(max_length=1000)] = ()
    usage_limit: Annotated[int, Field(ge=1, le=10**9, strict=True)] | None = None
    AHEAD = frozenset({"valid_from", "valid_until"})
    valid_from: Instant | None = None
    valid_until: Instant | None = None


class DisableCoupon(Command):
    allowed = account_only(P.MANAGE_COUPONS)

    code: Code
    reason: Text
