"""Handlers of the product and coproduction commands, and the split rules a sale takes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from payledger.domain import commands as c
from payledger.domain.affiliation import Affiliation
from payledger.domain.envelope import current_envelope
from payledger.domain.errors import NotFound, ValidationError
from payledger.domain.product import Product, split_rules
from payledger.domain.splits import SplitRules
from payledger.handlers.lookup import find
from payledger.handlers.steps import of, on_one
from payledger.settings import Settings
from payledger.wiring import AggregateWiring, Handler
from payledger.work import Work

ProductStep = Callable[[Product, Any], None]


def register_product(work: Work, cmd: c.RegisterProduct, _: Settings) -> UUID:
    account = work.account
    if find(work, Product, Product.create_id(account, cmd.product_id)) is not None:
        raise ValidationError("product_id", f"product {cmd.product_id} is already registered")
    product = Product.register(account, cmd.product_id, cmd.name, cmd.affiliate_commission_bps)
    return work.add(product).id


def load_product(work: Work, product_id: str) -> Product:
    found = find(work, Product, Product.create_id(work.account, product_id))
    if found is None:
        raise NotFound(Product.KIND, product_id)
    return found


def on_product(step: ProductStep) -> Handler:
    """A handler running `step` on the command's product."""
    return of(step)(on_one(lambda work, cmd: load_product(work, cmd.product_id))(
        lambda _, product, cmd, __: step(product, cmd)))


@on_product
def _commission(product: Product, cmd: c.SetAffiliateCommission) -> None:
    product.set_affiliate_commission(cmd.bps)


@on_product
def _invite(product: Product, cmd: c.InviteCoproducer) -> None:
    product.invite_coproducer(cmd.coproducer, cmd.bps, cmd.starts_at or product.now)


@on_product
def _accept(product: Product, cmd: c.AcceptCoproduction) -> None:
    product.accept_coproduction(cmd.coproducer, cmd.consent_reference)


@on_product
def _decline(product: Product, cmd: c.DeclineCoproduction) -> None:
    product.decline_coproduction(cmd.coproducer, cmd.reason, cmd.consent_reference)


@on_product
def _plan(product: Product, cmd: c.RegisterSubscriptionPlan) -> None:
    product.register_plan(cmd.plan.model_dump(mode="json"))


@on_product
def _end(product: Product, cmd: c.EndCoproduction) -> None:
    product.end_coproduction(cmd.coproducer, cmd.reason)


# -- the rules of a sale ---------------------------------------------------------------


def sale_rules(work: Work, cmd: c.Sale, product_id: str, settings: Settings) -> SplitRules:
    """The command's own split rules, or those in force now for `product_id`."""
    if cmd.split is not None:
        return cmd.split
    return rules_in_force(work, product_id, cmd.affiliate, settings)


def rules_in_force(
    work: Work, product_id: str, affiliate_party: str | None, settings: Settings,
) -> SplitRules:
    """The split rules of a sale of `product_id` made now.

    Coproducers: those accepted, started and not ended at the sale's instant. The
    affiliate, when named, must be approved for that product at that instant. A product
    never registered has no coproducers, and its producer is the account itself.
    """
    account = work.account
    at = current_envelope().at
    product = find(work, Product, Product.create_id(account, product_id))
    affiliate = None
    if affiliate_party is not None:
        affiliation = find(work, Affiliation,
                           Affiliation.create_id(account, product_id, affiliate_party))
        bps = affiliation.commission_at(at) if affiliation is not None else None
        if bps is None:
            raise ValidationError(
                "affiliate", f"{affiliate_party} is not an approved affiliate of {product_id}")
        affiliate = (affiliate_party, bps)
    return split_rules(
        producer=product.producer if product is not None else account,
        coproducers=product.coproducers_at(at) if product is not None else [],
        affiliate=affiliate, platform_fee_bps=settings.platform_fee_bps,
        platform_fee_fixed=settings.platform_fee_fixed,
    )


PRODUCTS = AggregateWiring(
    kind=Product,
    app="ledger",
    handlers={
        c.RegisterProduct: register_product,
        c.SetAffiliateCommission: _commission,
        c.InviteCoproducer: _invite,
        c.RegisterSubscriptionPlan: _plan,
        c.AcceptCoproduction: _accept,
        c.DeclineCoproduction: _decline,
        c.EndCoproduction: _end,
    },
)
