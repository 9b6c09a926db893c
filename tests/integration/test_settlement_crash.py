"""A settlement process killed (SIGKILL) mid-way through a large batch, then restarted,
credits every paid invoice exactly once, on SQLite and on PostgreSQL.

The worker is a real second process; the test waits until its tracking position has
passed a third of the batch (a condition, not a fixed sleep), kills it, checks that it
was indeed stopped mid-way, and lets a restarted settlement catch up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from uuid import uuid4

from payledger.domain.envelope import Envelope, acting
from payledger.domain.invoice import Invoice
from payledger.domain.splits import SplitRules
from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.settlement import Settlement, open_settlement
from tests.conftest import START
from tests.factories import CUSTOMER

SALES = 900
BATCH = 150
WORKER = """
import sys
from payledger.settings import Settings
from payledger.settlement import open_settlement

settlement = open_settlement(Settings(store_url=sys.argv[1]))
print("processed", settlement.catch_up(), flush=True)
settlement.close()
"""


def fill(ledger: Ledger, sales: int) -> tuple[Counter[str], set[tuple[str, str]]]:
    """`sales` paid card invoices in BRL and USD, saved in batches; what they paid per
    currency, and every (party, invoice) that must be credited."""
    paid: Counter[str] = Counter()
    credits: set[tuple[str, str]] = set()
    envelope = Envelope(account="acct-1", at=START, actor="test", correlation_id=uuid4(),
                        causation_id=None, command_id=uuid4(), actor_kind="platform",
                        actor_role="checkout")
    with acting(envelope):
        for start in range(0, sales, BATCH):
            batch = [_paid_invoice(n) for n in range(start, min(start + BATCH, sales))]
            ledger.save(*batch)
            for invoice in batch:
                paid[invoice.currency] += invoice.paid
                credits |= {(s["party"], str(invoice.id)) for s in invoice.splits if s["amount"]}
    return paid, credits


def _paid_invoice(n: int) -> Invoice:
    rules = SplitRules(producer=f"producer-{n % 7}", platform_fee_bps=990, platform_fee_fixed=99,
                       affiliate={"party": f"affiliate-{n % 3}", "bps": 3_000} if n % 2 else None)
    price = 1_000 + 37 * n
    invoice = Invoice(
        id=uuid4(), items=[{"product_id": "course-1", "description": "", "quantity": 1,
                            "unit_price": price}],
        customer=dict(CUSTOMER), currency="USD" if n % 5 == 0 else "BRL", method="card",
        split_rules=rules.model_dump(mode="json"), subtotal=price, warranty_days=7,
        origin="sale", origin_id=None,
    )
    invoice.request_charge("checkout")
    invoice.approve_card(f"AUTH-{n}")
    return invoice


def kill_mid_way(url: str, probe: Settlement, threshold: int, log: Path) -> None:
    with log.open("w") as err:
        worker = subprocess.Popen([sys.executable, "-c", WORKER, url], stdout=err, stderr=err,
                                  cwd=Path(__file__).parents[2])
    deadline = time.monotonic() + 120
    try:
        while probe.position < threshold:
            assert worker.poll() is None, f"the worker ended early: {log.read_text()}"
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.002)  # poll the condition
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.kill()
        worker.wait()
    assert worker.returncode == -signal.SIGKILL


def credited(settlement: Settlement) -> list[tuple[str, str]]:
    """(party, invoice) of every Credited event the settlement store holds."""
    parties = {b.id: b.party for b in settlement.balances()}
    transcoder = settlement.mapper.transcoder
    found: list[tuple[str, str]] = []
    start = 0
    while page := settlement.recorder.select_notifications(
        start, 1_000, topics=("payledger:Balance.Credited",), inclusive_of_start=False
    ):
        for n in page:
            found.append((parties[n.originator_id], str(transcoder.decode(n.state)["invoice_id"])))
        start = page[-1].id
    return found


def check_crash_and_restart(url: str, tmp_path: Path) -> None:
    settings = Settings(store_url=url)
    ledger = Ledger(settings)
    probe = open_settlement(settings, ledger=ledger)
    try:
        paid, expected = fill(ledger, SALES)
        last = ledger.recorder.max_notification_id()
        kill_mid_way(url, probe, threshold=last // 3, log=tmp_path / "worker.log")
        stopped_at = probe.position
        assert last // 3 <= stopped_at < last, "the worker was not stopped mid-way"

        assert probe.catch_up() > 0  # the restart
        assert probe.position == last
        holding: Counter[str] = Counter()
        for found in probe.balances():
            holding[found.currency] += found.holding
        assert holding == paid  # to the cent, per currency
        credits = credited(probe)
        assert len(credits) == len(set(credits)) == len(expected)
        assert set(credits) == expected
    finally:
        probe.close()
        ledger.close()


def test_a_killed_settlement_credits_every_sale_once_on_sqlite(sqlite_url: str, tmp_path):
    check_crash_and_restart(sqlite_url, tmp_path)


def test_a_killed_settlement_credits_every_sale_once_on_postgres(pg_url: str, tmp_path):
    check_crash_and_restart(pg_url, tmp_path)

