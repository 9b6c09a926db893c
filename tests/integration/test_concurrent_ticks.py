"""Any number of tickers and followers may run at once: each timed step and each event
takes effect once, the others skip it quietly, and no raw exception escapes (two
`tick`s, two settlements, at once, on both backends)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from payledger.dead_letters import letters
from payledger.domain import commands as c
from payledger.domain.balance import Balance
from payledger.domain.invoice import Invoice
from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.settlement import Settlement, open_settlement
from tests import factories as f
from tests.principals import CHECKOUT, GATEWAY

INVOICES = 30


def test_two_ticks_at_once_run_each_step_once(store_url, clock):
    ledgers = [Ledger(Settings(store_url=store_url), clock=clock) for _ in range(2)]
    try:
        ids = []
        for _ in range(INVOICES):
            invoice_id = ledgers[0].execute(CHECKOUT, f.create_invoice(method="pix")).aggregate_id
            ledgers[0].execute(GATEWAY, c.IssuePix(invoice_id=invoice_id, txid=f.TXID))
            ids.append(invoice_id)
        as_of = clock.now() + timedelta(days=2)
        start = threading.Barrier(2)
        errors: list[BaseException] = []
        reports: list[Any] = []

        def tick(ledger: Ledger) -> None:
            try:
                start.wait(timeout=30)
                for _ in range(3):
                    reports.append(ledger.tick(as_of))
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=tick, args=(ledger,)) for ledger in ledgers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        assert all(report.refused == [] for report in reports)  # no dead letter for a race
        expired = [e for invoice_id in ids for e in ledgers[0].events.get(invoice_id)
                   if isinstance(e, Invoice.Expired)]
        assert len(expired) == INVOICES  # each step once
        assert sum(r.executed for r in reports) >= INVOICES
    finally:
        for ledger in ledgers:
            ledger.close()


def test_two_settlements_at_once_credit_each_sale_once(store_url, clock):
    """Two settlement processes follow one ledger at once: each invoice event takes
    effect once, the one that loses a race moves on from the tracking position, and
    nothing is set aside."""
    ledger = Ledger(Settings(store_url=store_url), clock=clock)
    followers = [open_settlement(ledger.settings, ledger=Ledger(ledger.settings, clock=clock))
                 for _ in range(2)]
    try:
        for _ in range(INVOICES):
            invoice_id = ledger.execute(CHECKOUT, f.create_invoice(
                split={"producer": "producer-1"})).aggregate_id
            ledger.execute(CHECKOUT, c.RequestCharge(invoice_id=invoice_id))
            ledger.execute(GATEWAY, c.ApproveCard(invoice_id=invoice_id,
                                                  authorization_code="A1"))
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def follow(settlement: Settlement) -> None:
            try:
                start.wait(timeout=30)
                for _ in range(3):
                    settlement.catch_up()
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=follow, args=(s,)) for s in followers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        wallet = followers[0].load(Balance, Balance.create_id("producer-1", "BRL"))
        credits = [e for e in followers[0].events.get(wallet.id)
                   if isinstance(e, Balance.Credited)]
        assert len(credits) == INVOICES
        assert len({e.invoice_id for e in credits}) == INVOICES
        assert list(letters(followers[0])) == []
    finally:
        for settlement in followers:
            settlement.close()
        ledger.close()
