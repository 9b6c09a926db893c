"""Long-lived aggregates load from a snapshot taken every N of their events, plus fewer
than N events: a wallet the settlement credits page by page, and an aggregate the
commands move, on both backends; the state is the same as a full replay's."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from payledger.domain import commands as c
from payledger.domain.balance import Balance
from payledger.domain.coupon import Coupon
from payledger.domain.permissions import Actor
from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.settlement import open_settlement
from tests import factories as f
from tests.principals import CHECKOUT, GATEWAY

EVERY = 4


def state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def fresh_load(settings: Settings, kind: type, aggregate_id: UUID, settlement: bool) -> Any:
    """The aggregate as a new process loads it: an empty cache, from the stores."""
    ledger = Ledger(settings)
    try:
        if not settlement:
            return ledger.repository.get(aggregate_id)
        app = open_settlement(settings, ledger=ledger)
        try:
            return app.repository.get(aggregate_id)
        finally:
            app.close()
    finally:
        ledger.close()


def test_a_wallet_credited_page_by_page_loads_from_its_snapshot(store_url, clock):
    settings = Settings(store_url=store_url, snapshot_interval=EVERY)
    ledger = Ledger(settings, clock=clock)
    settlement = open_settlement(settings, ledger=ledger)
    try:
        for _ in range(3):
            for _ in range(5):
                invoice_id = ledger.execute(CHECKOUT, f.create_invoice(
                    split={"producer": "copro-9"})).aggregate_id
                ledger.execute(CHECKOUT, c.RequestCharge(invoice_id=invoice_id))
                ledger.execute(GATEWAY, c.ApproveCard(invoice_id=invoice_id,
                                                      authorization_code="A1"))
            settlement.catch_up()  # a page: the wallet crosses a multiple of EVERY
        wallet = settlement.load(Balance, Balance.create_id("copro-9", "BRL"))
        snapshots = list(settlement.snapshots.get(wallet.id))
    finally:
        settlement.close()
        ledger.close()
    assert wallet.version == 16  # opened, then 15 credits
    assert snapshots
    assert wallet.version - snapshots[-1].originator_version < EVERY
    assert state(fresh_load(settings, Balance, wallet.id, settlement=True)) == state(wallet)


def test_an_aggregate_the_commands_move_loads_from_its_snapshot(store_url, clock):
    settings = Settings(store_url=store_url, ledger_snapshot_interval=EVERY)
    ledger = Ledger(settings, clock=clock)
    owner = Actor.preset("owner", id="owner-1", account="acct-1")
    try:
        coupon_id = ledger.execute(owner, c.CreateCoupon(
            code="WELCOME", kind="percent", value=1_000)).aggregate_id
        for _ in range(9):  # each sale redeems the coupon
            ledger.execute(CHECKOUT, f.create_invoice(coupon_code="WELCOME"))
        coupon = ledger.load(Coupon, coupon_id)
        snapshots = list(ledger.snapshots.get(coupon_id))
    finally:
        ledger.close()
    assert coupon.version == 10
    assert [s.originator_version for s in snapshots] == [4, 8]
    assert state(fresh_load(settings, Coupon, coupon_id, settlement=False)) == state(coupon)
