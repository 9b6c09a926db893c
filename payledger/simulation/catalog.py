"""The shop's catalogue: products and coproductions, affiliates, coupons.

Partners answer for themselves, as principals of their own accounts: each coproducer
accepts or declines, each affiliate asks (and one leaves) on the producer's product.
One coproducer answers by phone, and a platform operator records it with the
consent's reference; the producer's owner tries once to answer for a partner and is
refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from payledger.domain import commands as c
from payledger.domain.affiliation import Affiliation
from payledger.domain.coupon import Coupon
from payledger.domain.permissions import Actor
from payledger.domain.product import Product
from payledger.simulation.base import ACCOUNT, PRODUCTS
from payledger.simulation.onboarding import Onboarding, partner

COPRODUCTIONS = (  # product, coproducer, share, what the coproducer answers
    ("mentorship", "coproducer-leo", 3000, "accept"),
    ("course-python", "coproducer-leo", 3000, "accept"),
    ("template-pack", "coproducer-max", 1500, "accept"),  # ended on day 20
    ("course-excel", "coproducer-rita", 2000, "decline"),
    ("ebook-finance", "coproducer-ivo", 1000, None),  # never answers: stays invited
)
AFFILIATES = ("affiliate-0", "affiliate-1", "affiliate-2", "affiliate-3", "affiliate-4")
AFFILIATED = ("course-excel", "course-python")
CouponKind = Literal["percent", "fixed"]
COUPONS: tuple[tuple[str, CouponKind, int, int | None, int | None], ...] = (
    # code, kind, value, usage limit, valid for days
    ("WELCOME10", "percent", 1000, None, None),
    ("BLACK50", "fixed", 5000, 8, 14),
    ("LAUNCH20", "percent", 2000, None, 7),
    ("OLD5", "percent", 500, None, None),  # disabled on day 10
)


class Catalog(Onboarding):
    def schedule(self, start: datetime) -> None:
        self.manager = Actor.preset("affiliate_manager", id="rui@producer-ana.example",
                                    account=ACCOUNT)
        self.approved: dict[str, list[str]] = {product: [] for product in AFFILIATED}
        self.at(start, self.open_shop)
        super().schedule(start)
        self.at(start + timedelta(days=10), lambda: self.send(self.owner, c.DisableCoupon(
            code="OLD5", reason="replaced by WELCOME10")))
        self.at(start + timedelta(days=20), self.reshape)

    def open_shop(self) -> None:
        self.onboard()
        for product, _ in PRODUCTS:
            if self.send(self.owner, c.RegisterProduct(
                    product_id=product, name=product.replace("-", " ").title(),
                    affiliate_commission_bps=4000)):
                self.report.made("Product", self.product_key(product))
        for product, coproducer, bps, answer in COPRODUCTIONS:
            self.send(self.owner, c.InviteCoproducer(
                product_id=product, coproducer=coproducer, bps=bps))
            if answer == "accept":
                self.send(partner(coproducer), c.AcceptCoproduction(
                    product_id=product, coproducer=coproducer, producer_account=ACCOUNT))
            elif answer == "decline":
                self.send(self.operator, c.DeclineCoproduction(  # answered by phone
                    product_id=product, coproducer=coproducer, reason="no time this year",
                    consent_reference="support call 2026-0042"))
        self.send(self.owner, c.AcceptCoproduction(  # refused: not the owner's to answer
            product_id="ebook-finance", coproducer="coproducer-ivo", producer_account=ACCOUNT))
        for product in AFFILIATED:
            for affiliate in AFFILIATES:
                self.affiliate_asks(product, affiliate)
        self.make_coupons()

    def affiliate_asks(self, product: str, affiliate: str) -> None:
        asked = c.RequestAffiliation(product_id=product, affiliate=affiliate,
                                     producer_account=ACCOUNT)
        if not self.send(partner(affiliate), asked):
            return
        self.report.made("Affiliation", self.affiliation_key(product, affiliate))
        if affiliate == "affiliate-4":
            self.send(self.manager, c.RefuseAffiliation(
                product_id=product, affiliate=affiliate, reason="spam traffic"))
        elif affiliate != "affiliate-3" or product == "course-excel":
            self.send(self.manager, c.ApproveAffiliation(product_id=product, affiliate=affiliate))
            self.approved[product].append(affiliate)
        # affiliate-3's request for course-python stays requested

    def make_coupons(self) -> None:
        now = self.clock.now()
        for code, kind, value, limit, days in COUPONS:
            if self.send(self.owner, c.CreateCoupon(
                    code=code, kind=kind, value=value, usage_limit=limit,
                    currency="BRL" if kind == "fixed" else None,
                    valid_until=now + timedelta(days=days) if days else None)):
                self.report.made("Coupon", self.coupon_key(code))

    def reshape(self) -> None:
        """Day 20: a coproduction and an affiliation end."""
        self.send(self.owner, c.EndCoproduction(
            product_id="template-pack", coproducer="coproducer-max", reason="contract over"))
        self.send(partner("affiliate-2"), c.LeaveAffiliation(
            product_id="course-excel", affiliate="affiliate-2", producer_account=ACCOUNT,
            reason="left the program"))
        self.approved["course-excel"].remove("affiliate-2")

    # -- what a sale takes from the catalogue ------------------------------------------

    def affiliate_for(self, product: str) -> str | None:
        approved = self.approved.get(product, [])
        return self.rng.choice(approved) if approved and self.chance(0.4) else None

    def coupon_for(self) -> str | None:
        if not self.chance(self.mix.discount):
            return None
        return self.rng.choice([code for code, *_ in COUPONS])

    def product_key(self, product: str) -> UUID:
        return Product.create_id(ACCOUNT, product)

    def affiliation_key(self, product: str, affiliate: str) -> UUID:
        return Affiliation.create_id(ACCOUNT, product, affiliate)

    def coupon_key(self, code: str) -> UUID:
        return Coupon.create_id(ACCOUNT, code)
