"""Coupons through the Ledger, on SQLite and on PostgreSQL (one contract, every backend).

A sale redeems its coupon in the same transaction as its invoice: both are written or
neither is. Two processes racing for the uses of one coupon get exactly its limit.
"""

from __future__ import annotations

import threading
import traceback
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from payledger.domain import commands as c
from payledger.domain.coupon import Coupon
from payledger.domain.envelope import Envelope, acting
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


def redeemed(ledger: Ledger, coupon_id: UUID) -> list[tuple[str, int]]:
    """(invoice id, discount) of each `Redeemed` the store holds, in order."""
    return [(str(e.invoice_id), e.amount) for e in ledger.events.get(coupon_id)
            if isinstance(e, Coupon.Redeemed)]


def test_a_sale_redeems_its_coupon_in_the_same_transaction(ledger, owner, checkout):
    coupon_id = create_coupon(ledger, owner)
    receipt = sell(ledger, checkout)
    assert receipt.events == 3  # the invoice's Created and DiscountApplied, the Redeemed
    invoice = ledger.load(Invoice, receipt.aggregate_id)
    assert (invoice.subtotal, invoice.discount, invoice.total, invoice.coupon) == (
        10_000, 1_000, 9_000, "WELCOME10")
    assert ledger.load(Coupon, coupon_id).used == 1
    assert redeemed(ledger, coupon_id) == [(str(invoice.id), 1_000)]
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
    assert sorted(invoice for invoice, _ in redeemed(ledger, coupon_id)) == sorted(sold)
    for invoice_id in sold:
        assert ledger.load(Invoice, UUID(invoice_id)).discount == 1_000
    assert assert_intact(ledger, coupon_id) == 1 + LIMIT
    created = [n for n in notifications(ledger) if n.topic == "payledger:Invoice.Created"]
    assert {str(n.originator_id) for n in created} == set(sold)  # no refused sale was written


# -- one redemption per invoice, and what a closed invoice keeps --------------------------


def test_an_invoice_redeems_once(ledger, owner, checkout):
    """A stored invoice is not created again, so its redemption is not made again; two
    sales of one invoice in one batch are refused by the coupon itself."""
    coupon_id = create_coupon(ledger, owner, usage_limit=None)
    invoice_id = uuid4()
    sell(ledger, checkout, invoice_id=invoice_id)
    error = refused_without_writing(ledger, Conflict, lambda: sell(
        ledger, checkout, invoice_id=invoice_id))
    assert "already exists" in str(error)
    twice = [(checkout, f.create_invoice(invoice_id=uuid4(), coupon_code="WELCOME10"))] * 2
    error = refused_without_writing(ledger, InvalidTransition,
                                    lambda: ledger.execute_many(twice))
    assert "already redeemed it" in str(error)
    assert ledger.load(Coupon, coupon_id).used == 1
    assert len(redeemed(ledger, coupon_id)) == 1


def test_a_void_or_expired_invoice_keeps_its_use_of_the_coupon(ledger, owner, checkout, clock):
    """As before: voiding or expiring an invoice does not give its coupon's use back."""
    coupon_id = create_coupon(ledger, owner)
    voided = sell(ledger, checkout).aggregate_id
    ledger.execute(checkout, c.VoidInvoice(invoice_id=voided, reason="the buyer gave up"))
    expired = sell(ledger, checkout, method="pix").aggregate_id
    ledger.execute(GATEWAY, c.IssuePix(invoice_id=expired, txid=f.TXID))
    clock.advance(2 * DAY)
    ledger.tick(clock.now())
    assert [str(ledger.load(Invoice, i).status) for i in (voided, expired)] == [
        "void", "expired"]
    coupon = ledger.load(Coupon, coupon_id)
    assert (coupon.used, coupon.status) == (2, "exhausted")
    error = refused_without_writing(ledger, InvalidTransition, lambda: sell(ledger, checkout))
    assert error.state == "exhausted"


# -- two Ledgers at once, in threads --------------------------------------------------------

THREAD_LIMIT = 2 * Coupon.SNAPSHOT_INTERVAL + 5  # snapshots are taken during the race


def test_two_ledgers_at_once_get_exactly_the_usage_limit(store_url, owner, clock):
    """Each Ledger has the coupon in its cache when they start (so each fast-forwards
    it past the other's sales); the coupon takes snapshots while they race."""
    settings = Settings(store_url=store_url)
    ledgers = [CountingLedger(settings, clock=clock) for _ in range(2)]
    try:
        coupon_id = create_coupon(ledgers[0], owner, code="RACE", usage_limit=THREAD_LIMIT)
        for ledger in ledgers:
            ledger.load(Coupon, coupon_id)
        start = threading.Barrier(2)
        sold: list[str] = []
        refused: list[str] = []
        errors: list[BaseException] = []

        def sell_until_exhausted(ledger: Ledger) -> None:
            checkout = Actor.platform("checkout", id="checkout", account=ACCOUNT)
            try:
                start.wait(timeout=30)
                for _ in range(3 * THREAD_LIMIT):
                    try:
                        sold.append(str(sell(ledger, checkout, "RACE").aggregate_id))
                    except Conflict:
                        continue
                    except InvalidTransition as error:
                        refused.append(error.state)
                        return
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=sell_until_exhausted, args=(ledger,))
                   for ledger in ledgers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        assert refused == ["exhausted", "exhausted"]
        assert len(sold) == len(set(sold)) == THREAD_LIMIT
        lost = sum(ledger.lost for ledger in ledgers)
        assert lost > 0, "the two Ledgers never raced: the test proved nothing"
        print(f"\n{store_url.split(':')[0]}: lost saves={lost}")
        for ledger in ledgers:
            coupon = ledger.load(Coupon, coupon_id)
            assert (coupon.used, coupon.status) == (THREAD_LIMIT, "exhausted")
        assert sorted(i for i, _ in redeemed(ledgers[0], coupon_id)) == sorted(sold)
        assert [s.originator_version for s in ledgers[0].snapshots.get(coupon_id)] == [
            Coupon.SNAPSHOT_INTERVAL, 2 * Coupon.SNAPSHOT_INTERVAL]
        assert assert_intact(ledgers[0], coupon_id) == 1 + THREAD_LIMIT
    finally:
        for ledger in ledgers:
            ledger.close()
    fresh = Ledger(settings, clock=clock)
    try:
        assert state(fresh.load(Coupon, coupon_id)) == state(
            fresh.repository.get(coupon_id, version=1 + THREAD_LIMIT))  # a full replay
    finally:
        fresh.close()


# -- a coupon of many redemptions ------------------------------------------------------------

MANY = 1_000  # a multiple of the snapshot interval


def state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def many_redemptions(ledger: Ledger, coupon_id: UUID, clock: SimulatedClock) -> None:
    """`MANY` redemptions made by the coupon's own method, saved 250 at a time (one
    save per batch, as a batch of sales would)."""
    coupon = ledger.load(Coupon, coupon_id)
    envelope = Envelope(account=ACCOUNT, at=clock.now(), actor="checkout",
                        correlation_id=uuid4(), causation_id=None, command_id=uuid4(),
                        actor_kind="platform", actor_role="checkout")
    with acting(envelope):
        for _ in range(MANY // 250):
            for _ in range(250):
                coupon.redeem(uuid4(), ["course-1"], 10_000, "BRL")
            ledger.save(coupon)


def test_a_coupon_of_many_redemptions_loads_from_its_snapshot(store_url, owner, checkout,
                                                               clock):
    """A Ledger with an empty cache reads the coupon's latest snapshot and the few events
    after it, not its whole history; the state is the full replay's. No other kind's
    load reads the snapshot store (the Ledger takes no other snapshots by default)."""
    settings = Settings(store_url=store_url)
    ledger = Ledger(settings, clock=clock)
    try:
        coupon_id = create_coupon(ledger, owner, usage_limit=None)
        many_redemptions(ledger, coupon_id, clock)  # its last save is snapshot at 1 + MANY
        tail = Coupon.SNAPSHOT_INTERVAL - 2  # sales to the version before the next multiple
        for _ in range(tail - 1):
            sell(ledger, checkout)
        invoice_id = sell(ledger, checkout).aggregate_id
    finally:
        ledger.close()
    version = 1 + MANY + tail

    fresh = Ledger(settings, clock=clock)
    decoded: list[str] = []
    snapshot_reads: list[UUID] = []
    to_domain_event, get_snapshots = fresh.mapper.to_domain_event, fresh.snapshots.get

    def counting_decode(stored: Any) -> Any:
        decoded.append(stored.topic)
        return to_domain_event(stored)

    def counting_snapshot_reads(originator_id: UUID, **kwargs: Any) -> Any:
        snapshot_reads.append(originator_id)
        return get_snapshots(originator_id, **kwargs)

    try:
        fresh.mapper.to_domain_event = counting_decode  # type: ignore[method-assign]
        fresh.snapshots.get = counting_snapshot_reads  # type: ignore[method-assign]
        fresh.execute(checkout, c.RequestCharge(invoice_id=invoice_id))  # an invoice
        assert snapshot_reads == []
        decoded.clear()
        coupon = fresh.load(Coupon, coupon_id)
        assert snapshot_reads == [coupon_id]
        assert coupon.version == version
        # the snapshot, then the events after it
        assert decoded == ["eventsourcing.domain:Snapshot"] + [
            "payledger:Coupon.Redeemed"] * tail
        fresh.mapper.to_domain_event = to_domain_event  # type: ignore[method-assign]
        assert coupon.used == MANY + tail
        assert state(coupon) == state(fresh.repository.get(coupon_id, version=version))
        sell(fresh, checkout)  # the next sale crosses a multiple: a snapshot of it
        latest = next(iter(fresh.snapshots.get(coupon_id, desc=True, limit=1)))
        assert latest.originator_version == version + 1
    finally:
        fresh.close()
