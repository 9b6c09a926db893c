"""Issue 16's cases, each with its numbers, through the Ledger and the Settlement on a
SQLite file: refunds by cumulative shares, the reserve on every credit, one-pass
splits, a dispute lost with a refund in flight, and a release after a won dispute."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from payledger.domain import commands as c
from payledger.domain.balance import Balance
from payledger.domain.refund import DISPUTE_LOST, Refund
from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.settlement import Settlement, open_settlement
from tests import factories as f
from tests.integration.test_settlement import (
    PARTIES,
    SHARES,
    SUPPORT,
    balance,
    holding,
    refund,
    sell,
    settlement,
)
from tests.principals import GATEWAY

__all__ = ["settlement"]  # the fixture, used by name

DAY = timedelta(days=1)
ALONE = {"producer": "producer-1"}  # the producer takes all: its credit is the sale


def test_ten_one_cent_refunds_take_each_party_its_exact_share(sqlite_ledger, settlement,
                                                               checkout, owner):
    """Exact shares of 10 cents of the 1090 / 2673 / 1559 / 4678 sale are 1.09 / 2.673 /
    1.559 / 4.678: before, all 10 came from the producer."""
    invoice_id = sell(sqlite_ledger, checkout)
    for _ in range(10):
        refund(sqlite_ledger, checkout, owner, invoice_id, 1)
    settlement.catch_up()
    given_back = {p: SHARES[p] - held for p, held in holding(settlement).items()}
    assert given_back == {"platform": 1, "affiliate-1": 3, "coproducer-1": 1, "producer-1": 5}
    refund(sqlite_ledger, checkout, owner, invoice_id)  # the rest: each its whole credit
    settlement.catch_up()
    assert holding(settlement) == dict.fromkeys(PARTIES, 0)


def test_a_first_boleto_sale_is_reserved_before_it_can_be_withdrawn(sqlite_ledger, settlement,
                                                                     clock, checkout):
    """A new producer's first R$ 1.000,00 boleto sale, released at D+2: 4.000 held."""
    sell(sqlite_ledger, checkout, "boleto", 100_000, split=ALONE)
    settlement.tick(clock.now() + 3 * DAY)
    found = balance(settlement)
    assert (found.available, found.reserved, found.withdrawable) == (100_000, 4_000, 96_000)


def test_a_sale_an_hour_after_a_beat_is_reserved_at_once(sqlite_ledger, settlement, clock,
                                                         checkout):
    """An established producer: R$ 100,00 by card, a weekly beat (400 reserved), then an
    hour later R$ 1.000,00 by boleto: 4.400 held, not the beat's 400."""
    sell(sqlite_ledger, checkout, "card", 10_000, split=ALONE)
    settlement.tick(clock.now())
    beat = balance(settlement).next_recompute_at
    assert beat is not None
    settlement.tick(beat)
    assert balance(settlement).reserved == 400
    clock.set(beat + timedelta(hours=1))
    sell(sqlite_ledger, checkout, "boleto", 100_000, split=ALONE)
    settlement.tick(clock.now() + 3 * DAY)
    found = balance(settlement)
    assert (found.available, found.reserved) == (100_000, 4_400)
    assert found.withdrawable == 95_600


def test_a_beat_lets_go_only_the_credits_older_than_the_window(sqlite_ledger, settlement,
                                                               clock, checkout):
    sell(sqlite_ledger, checkout, "card", 10_000, split=ALONE)
    settlement.catch_up()
    assert balance(settlement).reserved == 400
    settlement.tick(clock.now() + 29 * DAY)  # four beats, the credit still in the window
    assert balance(settlement).reserved == 400
    settlement.tick(clock.now() + 36 * DAY)
    assert balance(settlement).reserved == 0


def test_the_platforms_balance_holds_no_reserve(sqlite_ledger, settlement, checkout):
    sell(sqlite_ledger, checkout)
    settlement.catch_up()
    assert balance(settlement, "platform").reserved == 0
    assert balance(settlement, "producer-1").reserved == 187  # 4% of 4678


def test_a_split_is_rounded_once(sqlite_ledger, settlement, checkout):
    """84 cents at a 15% fee with a coproducer at 33.33%: exact 12.6 / 23.798 / 47.602,
    so 12 / 24 / 48 (rounding the fee first gave 13 / 24 / 47)."""
    rules: dict[str, Any] = {"producer": "producer-1", "platform_fee_bps": 1_500,
                             "coproducers": [{"party": "coproducer-1", "bps": 3_333}]}
    sell(sqlite_ledger, checkout, "card", 84, split=rules)
    settlement.catch_up()
    assert [balance(settlement, p).pending for p in ("platform", "coproducer-1",
                                                      "producer-1")] == [12, 24, 48]


def _dispute(ledger: Ledger, invoice_id: UUID) -> None:
    respond_by = ledger.clock.now() + 10 * DAY
    ledger.execute(GATEWAY, c.OpenDispute(invoice_id=invoice_id, reason="fraud",
                                          respond_by=respond_by))


def test_a_dispute_lost_with_a_refund_in_flight_takes_back_the_whole_sale(
    sqlite_ledger, settlement, checkout, owner
):
    """R$ 100,00 paid, R$ 40,00 refund sent to the gateway, dispute lost: the network
    took back 10.000; the refund fails and no party keeps any of the sale."""
    invoice_id = sell(sqlite_ledger, checkout)
    refund_id = sqlite_ledger.execute(SUPPORT, f.request_refund(invoice_id, 4_000)).aggregate_id
    sqlite_ledger.execute(owner, c.ApproveRefund(refund_id=refund_id))
    sqlite_ledger.execute(GATEWAY, c.SendRefund(refund_id=refund_id, gateway_reference="GW-1"))
    _dispute(sqlite_ledger, invoice_id)
    sqlite_ledger.execute(GATEWAY, c.LoseDispute(invoice_id=invoice_id))
    settlement.catch_up()
    ended = sqlite_ledger.load(Refund, refund_id)
    assert (ended.status, ended.reason) == ("failed", DISPUTE_LOST)
    assert holding(settlement) == dict.fromkeys(PARTIES, 0)
    assert all(balance(settlement, p).disputed == 0 for p in PARTIES)


def test_a_lost_dispute_takes_the_amount_the_gateway_reports(sqlite_ledger, settlement,
                                                             checkout, owner):
    invoice_id = sell(sqlite_ledger, checkout)
    refund(sqlite_ledger, checkout, owner, invoice_id, 2_000)
    _dispute(sqlite_ledger, invoice_id)
    sqlite_ledger.execute(GATEWAY, c.LoseDispute(invoice_id=invoice_id, amount=5_000))
    settlement.catch_up()
    left = holding(settlement)
    assert sum(left.values()) == 3_000  # paid 10.000, refunded 2.000, charged back 5.000
    assert all(abs(left[p] - SHARES[p] * 3 // 10) <= 1 for p in PARTIES)


def test_a_release_after_a_won_dispute_is_dated_at_the_reinstatement(sqlite_ledger, settlement,
                                                                      clock, checkout):
    invoice_id = sell(sqlite_ledger, checkout)
    _dispute(sqlite_ledger, invoice_id)
    settlement.catch_up()
    clock.advance(20 * DAY)  # past the receivable's D+15, still withheld
    sqlite_ledger.execute(GATEWAY, c.WinDispute(invoice_id=invoice_id))
    settlement.tick(clock.now())
    found = balance(settlement)
    assert (found.pending, found.available, found.disputed) == (0, 4_678, 0)
    events = list(settlement.events.get(found.id))
    reinstated = next(e for e in events if isinstance(e, Balance.Reinstated))
    released = next(e for e in events if isinstance(e, Balance.Released))
    assert released.at >= reinstated.at > found.created_at + 15 * DAY


def test_a_kept_fee_is_given_back_by_the_producer_alone(tmp_path, clock, checkout, owner):
    """refund_platform_fee=false: the fee is given back at the pace of the refunds, and a
    full refund leaves the producer owing the fee it never withdrew (the second cause
    of a negative balance), partners at 0."""
    settings = Settings(store_url=f"sqlite:///{tmp_path}/events.db", refund_platform_fee=False)
    ledger = Ledger(settings, clock=clock)
    app: Settlement = open_settlement(settings, ledger=ledger)
    try:
        invoice_id = sell(ledger, checkout)
        refund(ledger, checkout, owner, invoice_id, 5_000)
        app.catch_up()
        half = balance(app)
        assert (half.fees_owed, half.holding) == (545, 4_678 - 2_339 - 545)
        refund(ledger, checkout, owner, invoice_id)
        app.catch_up()
        found = balance(app)
        assert (found.available, found.fees_owed, found.status) == (-1_090, 1_090, "negative")
        assert [balance(app, p).holding for p in ("affiliate-1", "coproducer-1")] == [0, 0]
    finally:
        app.close()
        ledger.close()
