"""Coupons through the Ledger, on SQLite and on PostgreSQL (one contract, every backend).

A sale redeems its coupon in the same transaction as its invoice: both are written or
neither is. Two processes racing for the uses of one coupon get exactly its limit.
"""

from __future__ import annotations

import traceback
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from payledger.domain import commands as c
from payledger.domain.coupon import Coupon
from payledger.domain.errors import Conflict, Forbidden, InvalidTransition, ValidationError
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.settings import Settings
from tests import factories as f
from tests.conftest import START
from tests.integration.test_commands import refused_without_writing
from tests.integration.test_concurrency import (
    CountingLedger,
    assert_intact,
    notifications,
    run_workers,
)
from tests.principals import GATEWAY, OPERATOR

DAY = timedelta(days=1)
ACCOUNT = "acct-1"


def create_coupon(ledger: Ledger, owner: Actor, code: str = "WELCOME10", **extra: Any) -> UUID:
    fields: dict[str, Any] = {"code": code, "kind": "percent", "value": 1_000,
                              "usage_limit": 2, "valid_until": START + 30 * DAY}
    return ledger.execute(owner, c.CreateCoupon(**{**fields, **extra})).aggregate_id


def sell(ledger: Ledger, checkout: Actor, code: str = "welcome10", **extra: Any) -> Any:
    return ledger.execute(checkout, f.create_invoice(coupon_code=code, **extra))


def test_a_sale_redeems_its_coupon_in_the_same_transaction(ledger, owner, checkout):
    coupon_id = create_coupon(ledger, owner)
    receipt = sell(ledger, checkout)
    assert receipt.events == 3  # the invoice's Created and DiscountApplied, the Redeemed
    invoice = ledger.load(Invoice, receipt.aggregate_id)
    assert (invoice.subtotal, invoice.discount, invoice.total, invoice.coupon) == (
        10_000, 1_000, 9_000, "WELCOME10")
    coupon = ledger.load(Coupon, coupon_id)
    assert (coupon.used, coupon.redemptions) == (1, {str(invoice.id): 1_000})
    commands = {ledger.mapper.transcoder.decode(s.state)["command_id"]
                for aggregate_id in (invoice.id, coupon_id)
                for s in ledger.stored_events(aggregate_id)
                if s.topic in ("payledger:Invoice.DiscountApplied", "payledger:Coupon.Redeemed")}
    assert commands == {receipt.command_id}
    ledger.execute(checkout, c.RequestCharge(invoice_id=invoice.id))
    ledger.execute(GATEWAY, c.ApproveCard(invoice_id=invoice.id, authorization_code="A"))
    paid = ledger.load(Invoice, invoice.id)
    assert paid.paid == 9_000
    assert sum(p["amount"] for p in paid.splits) == 9_000


def test_an_exhausted_coupon_is_refused_and_the_sale_writes_nothing(ledger, owner, checkout):
    coupon_id = create_coupon(ledger, owner)
    sell(ledger, checkout)
    sell(ledger, checkout)
    error = refused_without_writing(ledger, InvalidTransition, lambda: sell(ledger, checkout))
    assert (error.kind, error.state, error.command) == ("Coupon", "exhausted", "redeem")
    assert "usage limit of 2 is reached" in str(error)
    assert ledger.load(Coupon, coupon_id).used == 2
    assert ledger.execute(checkout, f.create_invoice()).events == 1  # no coupon: sold


def test_an_expired_coupon_is_refused(ledger, owner, checkout, clock):
    create_coupon(ledger, owner)
    clock.advance(30 * DAY + timedelta(seconds=1))
    error = refused_without_writing(ledger, InvalidTransition, lambda: sell(ledger, checkout))
    assert (error.state, error.command) == ("expired", "redeem")
    assert "WELCOME10 expired at" in str(error)


def test_a_coupon_not_yet_valid_is_refused(ledger, owner, checkout):
    create_coupon(ledger, owner, valid_from=START + DAY)
    error = refused_without_writing(ledger, InvalidTransition, lambda: sell(ledger, checkout))
    assert error.state == "not yet valid"


def test_a_coupon_of_another_account_is_unknown(ledger, owner, checkout):
    other_owner = Actor.preset("owner", id="owner-2", account="acct-2")
    create_coupon(ledger, other_owner, code="THEIRS")
    for code in ("THEIRS", "NOSUCHCODE"):
        error = refused_without_writing(ledger, ValidationError,
                                        lambda code=code: sell(ledger, checkout, code))
        assert error.field == "coupon_code"
        assert str(error) == f"coupon_code: unknown coupon {code}"
    assert ledger.load(Coupon, Coupon.create_id("acct-2", "THEIRS")).used == 0


def test_a_disabled_coupon_is_refused(ledger, owner, checkout):
    create_coupon(ledger, owner)
    ledger.execute(owner, c.DisableCoupon(code="welcome10", reason="campaign over"))
    error = refused_without_writing(ledger, InvalidTransition, lambda: sell(ledger, checkout))
    assert (error.state, error.command) == ("disabled", "redeem")


def test_a_coupon_for_other_products_is_refused(ledger, owner, checkout):
    create_coupon(ledger, owner, product_ids=("ebook-1",))
    error = refused_without_writing(ledger, ValidationError, lambda: sell(ledger, checkout))
    assert (error.field, error.reason) == ("coupon_code", "WELCOME10 does not apply to course-1")


def test_a_fixed_coupon_in_another_currency_is_refused(ledger, owner, checkout):
    create_coupon(ledger, owner, kind="fixed", value=500, currency="USD")
    error = refused_without_writing(ledger, ValidationError, lambda: sell(ledger, checkout))
    assert error.field == "currency"


def test_a_sale_refused_for_another_reason_does_not_use_the_coupon(ledger, owner, checkout):
    coupon_id = create_coupon(ledger, owner)
    refused_without_writing(ledger, ValidationError, lambda: sell(
        ledger, checkout, split=None, affiliate="aff-1"))
    assert ledger.load(Coupon, coupon_id).used == 0


def test_a_repeated_sale_redeems_once(ledger, owner, checkout):
    coupon_id = create_coupon(ledger, owner)
    first = sell(ledger, checkout, idempotency_key="sale-1")
    again = sell(ledger, checkout, idempotency_key="sale-1")
    assert (again.repeated, again.aggregate_id) == (True, first.aggregate_id)
    assert ledger.load(Coupon, coupon_id).used == 1


def test_a_code_is_created_once_per_account(ledger, owner):
    create_coupon(ledger, owner)
    error = refused_without_writing(ledger, ValidationError,
                                    lambda: create_coupon(ledger, owner, code=" Welcome10"))
    assert error.field == "code"
    other = create_coupon(ledger, Actor.preset("owner", id="o2", account="acct-2"))
    assert other == Coupon.create_id("acct-2", "WELCOME10")


def test_coupon_commands_need_their_permission(ledger, owner, checkout):
    create_coupon(ledger, owner)
    support = Actor.preset("support", id="support-1", account=ACCOUNT)
    technical = Actor.preset("technical", id="technical-1", account=ACCOUNT)
    account_only = "runs for account principals only"  # the owner's, never the platform's
    for actor, command, refusal in (
        (support, c.CreateCoupon(code="X1", kind="percent", value=1),
         "needs permission 'manage_coupons'"),
        (technical, c.DisableCoupon(code="WELCOME10", reason="r"),
         "needs permission 'manage_coupons'"),
        (checkout, c.DisableCoupon(code="WELCOME10", reason="r"), account_only),
        (OPERATOR, c.CreateCoupon(code="X1", kind="percent", value=1), account_only),
    ):
        error = refused_without_writing(ledger, Forbidden,
                                        lambda a=actor, cmd=command: ledger.execute(a, cmd))
        assert str(error).endswith(refusal)


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"code": "no spaces"}, "code"), ({"value": 0}, "value"), ({"kind": "bogo"}, "kind"),
     ({"usage_limit": 0}, "usage_limit"), ({"valid_from": datetime(2026, 1, 1)}, "valid_from"),
     ({"currency": "XYZ"}, "currency"), ({"product_ids": ("",)}, "product_ids.0")],
)
def test_bad_coupon_input_names_its_field(extra, field):
    fields: dict[str, Any] = {"code": "OK10", "kind": "percent", "value": 1_000}
    with pytest.raises(ValidationError) as caught:
        c.CreateCoupon(**{**fields, **extra})
    assert caught.value.field == field


def test_a_bad_window_is_refused_by_the_handler(ledger, owner):
    error = refused_without_writing(ledger, ValidationError, lambda: create_coupon(
        ledger, owner, valid_from=START + DAY, valid_until=START + DAY))
    assert error.field == "valid_until"


# -- two processes race for the last uses ------------------------------------------------------

LIMIT = 40


def coupon_worker(url: str, at: datetime, start: Any, results: Any) -> None:
    """Sell with the coupon until it is refused as exhausted; report every outcome."""
    report: dict[str, Any] = {"ok": [], "conflicts": 0, "exhausted": False, "lost": 0,
                              "others": []}
    try:
        checkout = Actor.platform("checkout", id="checkout", account=ACCOUNT)
        ledger = CountingLedger(Settings(store_url=url), clock=SimulatedClock(at))
        try:
            start.wait()
            for _ in range(3 * LIMIT):
                try:
                    receipt = sell(ledger, checkout, "RACE")
                except Conflict:
                    report["conflicts"] += 1
                except InvalidTransition as error:
                    if error.state != "exhausted":
                        raise
                    report["exhausted"] = True
                    break
                else:
                    report["ok"].append(str(receipt.aggregate_id))
            report["lost"] = ledger.lost
        finally:
            ledger.close()
    except BaseException:
        start.abort()
        report["others"].append(traceback.format_exc())
    results.put(report)


def test_two_processes_get_exactly_the_usage_limit(ledger, owner, store_url, clock):
    coupon_id = create_coupon(ledger, owner, code="RACE", usage_limit=LIMIT)

    reports = run_workers(coupon_worker, (store_url, clock.now()))

    assert [r["others"] for r in reports] == [[], []]
    assert [r["exhausted"] for r in reports] == [True, True]
    sold = [invoice for r in reports for invoice in r["ok"]]
    assert len(sold) == LIMIT
    lost = sum(r["lost"] for r in reports)
    assert lost > 0, "the two workers never raced: the test proved nothing"
    print(f"\n{store_url.split(':')[0]}: lost saves={lost} "
          f"conflicts={sum(r['conflicts'] for r in reports)}")
    coupon = ledger.load(Coupon, coupon_id)
    assert (coupon.used, coupon.status) == (LIMIT, "exhausted")
    assert set(coupon.redemptions) == set(sold)
    for invoice_id in sold:
        assert ledger.load(Invoice, UUID(invoice_id)).discount == 1_000
    assert assert_intact(ledger, coupon_id) == 1 + LIMIT
    created = [n for n in notifications(ledger) if n.topic == "payledger:Invoice.Created"]
    assert {str(n.originator_id) for n in created} == set(sold)  # no refused sale was written
