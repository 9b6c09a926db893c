"""Handlers of the affiliation commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from payledger.domain import commands as c
from payledger.domain.affiliation import Affiliation
from payledger.domain.errors import NotFound, ValidationError
from payledger.handlers.lookup import find
from payledger.handlers.product import load_product
from payledger.handlers.steps import of, on_one
from payledger.settings import Settings
from payledger.wiring import AggregateWiring, Handler
from payledger.work import Work

AffiliationStep = Callable[[Work, Affiliation, Any], None]


def request_affiliation(work: Work, cmd: c.RequestAffiliation, _: Settings) -> UUID:
    """A first request creates the affiliation; after a refusal or an end, it asks again."""
    product = load_product(work, cmd.product_id)
    if cmd.affiliate == product.producer:
        raise ValidationError("affiliate", f"{cmd.affiliate} is the producer of {cmd.product_id}")
    affiliation_id = Affiliation.create_id(work.account, cmd.product_id, cmd.affiliate)
    affiliation = find(work, Affiliation, affiliation_id)
    if affiliation is None:
        affiliation = work.add(Affiliation(id=affiliation_id, product_id=cmd.product_id,
                                           affiliate=cmd.affiliate,
                                           consent_reference=cmd.consent_reference))
    else:
        affiliation.request_again(cmd.consent_reference)
    return affiliation.id


def on_affiliation(step: AffiliationStep) -> Handler:
    """A handler running `step` on the affiliation the command names."""
    return of(step)(on_one(load_affiliation)(
        lambda work, found, cmd, _: step(work, found, cmd)))


def load_affiliation(work: Work, cmd: c.AffiliationCommand) -> Affiliation:
    key = Affiliation.create_id(work.account, cmd.product_id, cmd.affiliate)
    affiliation = find(work, Affiliation, key)
    if affiliation is None:
        raise NotFound(Affiliation.KIND, f"{cmd.affiliate} of {cmd.product_id}")
    return affiliation


@on_affiliation
def _approve(work: Work, affiliation: Affiliation, cmd: c.ApproveAffiliation) -> None:
    product = load_product(work, cmd.product_id)
    affiliation.approve(product.affiliate_commission_bps)


@on_affiliation
def _refuse(_work: Work, affiliation: Affiliation, cmd: c.RefuseAffiliation) -> None:
    affiliation.reject(cmd.reason)


@on_affiliation
def _end(_work: Work, affiliation: Affiliation, cmd: c.EndAffiliation) -> None:
    affiliation.end(cmd.reason)


@on_affiliation
def _leave(_work: Work, affiliation: Affiliation, cmd: c.LeaveAffiliation) -> None:
    affiliation.end(cmd.reason, cmd.consent_reference)


AFFILIATIONS = AggregateWiring(
    kind=Affiliation,
    app="ledger",
    handlers={
        c.RequestAffiliation: request_affiliation,
        c.ApproveAffiliation: _approve,
        c.RefuseAffiliation: _refuse,
        c.EndAffiliation: _end,
        c.LeaveAffiliation: _leave,
    },
)
