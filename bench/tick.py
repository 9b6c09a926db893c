"""A tick costs what falls due, not what is open.

Two stores, made in the same run: one with 100,000 open Pix invoices, one with
10,000; in each, 1,000 expire before the tick's instant and the rest long after. The
stores are filled through the domain and saved in batches (the setup is not what is
measured), their due indexes caught up, and then one tick on each is timed: it finds
the 1,000 due expiries, runs them as commands, and indexes what they wrote.

    python -m payledger.bench.tick [--open 100000] [--small 10000] [--due 1000]

Target: time(tick over the large store) / time(tick over the small one) <= 2.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from payledger.domain import commands as c
from payledger.domain.customer import Customer
from payledger.domain.permissions import Actor
from payledger.domain.splits import SplitRules
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.settings import Settings

START = datetime(2026, 3, 2, 12, tzinfo=UTC)
BATCH = 500
CUSTOMER = Customer.parse(name="Ana Souza", email="ana@example.com", document="11144477735")
RULES = SplitRules(producer="producer-1", platform_fee_bps=990)
ITEMS = (c.Item(product_id="course-1", unit_price=9_700),)


def fill(ledger: Ledger, open_items: int, due: int) -> None:
    """`open_items` issued Pix invoices; the first `due` expire within the hour. Made
    through the commands, `BATCH` sales per `execute_many` (one transaction each)."""
    checkout = Actor.platform("checkout", id="checkout-svc", account="acct-1")
    gateway = Actor.platform("gateway", id="gateway-svc", account="acct-1")
    for start in range(0, open_items, BATCH):
        steps: list[tuple[Actor, c.Command]] = []
        for n in range(start, min(start + BATCH, open_items)):
            invoice_id = uuid4()
            expires_in = timedelta(hours=1) if n < due else timedelta(days=29)
            steps += [(checkout, c.CreateInvoice(
                invoice_id=invoice_id, items=ITEMS, customer=CUSTOMER, currency="BRL",
                method="pix", split=RULES)), (gateway, c.IssuePix(
                invoice_id=invoice_id, txid=uuid4().hex,
                expires_in_seconds=int(expires_in.total_seconds())))]
        ledger.execute_many(steps)


def measure(root: Path, name: str, open_items: int, due: int) -> tuple[float, int, float]:
    ledger = Ledger(Settings(store_url=f"sqlite:///{root / name}/events.db"),
                    clock=SimulatedClock(START))
    try:
        began = time.perf_counter()
        fill(ledger, open_items, due)
        ledger.scheduler.catch_up()
        setup = time.perf_counter() - began
        began = time.perf_counter()
        report = ledger.tick(START + timedelta(hours=2))
        return time.perf_counter() - began, report.executed, setup
    finally:
        ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=100_000, help="open items, large store")
    parser.add_argument("--small", type=int, default=10_000, help="open items, small store")
    parser.add_argument("--due", type=int, default=1_000, help="items due in each store")
    args = parser.parse_args()
    print(f"payledger tick benchmark: {args.due:,} due of {args.open:,} open vs "
          f"{args.due:,} due of {args.small:,} open (SQLite files, same run)")
    with tempfile.TemporaryDirectory(prefix="payledger-tick-") as tmp:
        root = Path(tmp)
        small, small_run, small_setup = measure(root, "small", args.small, args.due)
        large, large_run, large_setup = measure(root, "large", args.open, args.due)
    print(f"{'open items':>12} {'steps run':>10} {'tick s':>8} {'setup s':>8}")
    print(f"{args.small:>12,} {small_run:>10,} {small:>8.3f} {small_setup:>8.1f}")
    print(f"{args.open:>12,} {large_run:>10,} {large:>8.3f} {large_setup:>8.1f}")
    ratio = large / small
    print(f"ratio large/small: {ratio:.2f} (target <= 2: {'met' if ratio <= 2 else 'NOT met'})")


if __name__ == "__main__":
    main()
