"""The settlement keeps pace as balances grow (issue 17, item 8).

Three measurements, each against a baseline taken in the same run:

1. **growth**: one wallet takes paid invoices (saved straight into the Ledger's log in
   batches, as bench/wallets.py does; not timed) and `Settlement.catch_up()` credits
   them; the cost per credited invoice is timed over a window of `--window` invoices
   when the wallet holds about 1,000 receivables (the baseline) and again when it holds
   `--receivables` (default 100,000). Nothing is released, so every credit stays a
   receivable. Target: large / small <= 1.2 (flat within 20%).
2. **catch-up**: `--invoices` (default 67,000) card sales written through the command
   path (CreateInvoice, RequestCharge, ApproveCard by the checkout and the gateway,
   `--batch` sales per `Ledger.execute_many`, four parties each: platform fee,
   affiliate, coproducer, producer) are timed (the baseline), then one
   `Settlement.catch_up()` from zero over them. Target: catch-up / write <= 3.
3. **cold tick**: on the store of (2), on SQLite and on PostgreSQL, a fresh process
   opens the Ledger and its Settlement and runs `tick` (the due indexes of both
   caught up from zero, then what falls due: every checkout abandoned or not, the
   releases not yet due). Target: PostgreSQL / SQLite <= 2.

    python -m payledger.bench.settlement [--receivables 100000] [--window 1000]
        [--invoices 67000] [--batch 100] [--only growth|catch-up|tick]

SQLite files under TMPDIR; PostgreSQL at PAYLEDGER_BENCH_POSTGRES (default
postgresql://postgres@127.0.0.1:5432/test) in throwaway `bench_settlement_<random>`
schemas, dropped afterwards (the cold tick's PostgreSQL half is skipped with a message
when it is unreachable).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import uuid4

from payledger.bench.append import (
    postgres_dsn,
    postgres_unreachable,
    print_table,
    redacted,
    with_schema,
)
from payledger.bench.wallets import BATCH, CUSTOMER, paid_invoice
from payledger.domain import commands as c
from payledger.domain.customer import Customer
from payledger.domain.envelope import Envelope, acting
from payledger.domain.permissions import Actor
from payledger.domain.splits import SplitRules
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.settlement import Settlement, open_settlement

START = datetime(2026, 3, 2, 12, tzinfo=UTC)
GROWTH_TARGET = 1.2
CATCH_UP_TARGET = 3.0
TICK_TARGET = 2.0
RULES = SplitRules.model_validate({
    "producer": "producer-1", "platform_fee_bps": 990, "platform_fee_fixed": 100,
    "affiliate": {"party": "affiliate-1", "bps": 3000},
    "coproducers": [{"party": "coproducer-1", "bps": 2500}],
})
T = TypeVar("T")
BUYER = Customer.parse(**CUSTOMER)
CHECKOUT = Actor.platform("checkout", id="checkout-svc", account="acct-1")
GATEWAY = Actor.platform("gateway", id="gateway-svc", account="acct-1")


# -- 1. growth ----------------------------------------------------------------------------


def save_paid(ledger: Ledger, first: int, count: int) -> None:
    """`count` paid invoices whose whole amount goes to one wallet, `BATCH` per save."""
    envelope = Envelope(account="acct-1", at=START, actor="bench", correlation_id=uuid4(),
                        causation_id=None, command_id=uuid4(), actor_kind="platform",
                        actor_role="checkout")
    with acting(envelope):
        for start in range(first, first + count, BATCH):
            ledger.save(*(paid_invoice(n, "partner")
                          for n in range(start, min(start + BATCH, first + count))))


def growth(url: str, receivables: int, window: int) -> tuple[float, float]:
    """Milliseconds per credited invoice at about 1,000 receivables, and at `receivables`."""
    settings = Settings(store_url=url)
    ledger = Ledger(settings, clock=SimulatedClock(START))
    settlement = open_settlement(settings, ledger=ledger)
    try:
        save_paid(ledger, 0, 1_000 - window)
        settlement.catch_up()
        small = timed_window(ledger, settlement, 1_000 - window, window)
        save_paid(ledger, 1_000, receivables - window - 1_000)
        settlement.catch_up()
        large = timed_window(ledger, settlement, receivables - window, window)
    finally:
        settlement.close()
        ledger.close()
    return small, large


def timed_window(ledger: Ledger, settlement: Settlement, first: int, window: int) -> float:
    save_paid(ledger, first, window)
    gc.collect()
    began = time.perf_counter()
    processed = settlement.catch_up()
    seconds = time.perf_counter() - began
    if processed != window:
        raise AssertionError(f"{processed} events processed for a window of {window}")
    return seconds / window * 1_000


# -- 2. catch-up against the command path ---------------------------------------------


def write_sales(ledger: Ledger, invoices: int, batch: int) -> float:
    """Seconds to write `invoices` paid card sales through the command path."""
    began = time.perf_counter()
    for start in range(0, invoices, batch):
        steps: list[tuple[Actor, c.Command]] = []
        for n in range(start, min(start + batch, invoices)):
            invoice_id = uuid4()
            steps += [
                (CHECKOUT, c.CreateInvoice(
                    invoice_id=invoice_id, customer=BUYER, currency="BRL", method="card",
                    items=(c.Item(product_id="course-1", unit_price=1_000 + 37 * (n % 101)),),
                    split=RULES)),
                (CHECKOUT, c.RequestCharge(invoice_id=invoice_id)),
                (GATEWAY, c.ApproveCard(invoice_id=invoice_id, authorization_code=f"A-{n}")),
            ]
        ledger.execute_many(steps)
    return time.perf_counter() - began


def catch_up(url: str, invoices: int, batch: int) -> tuple[float, float]:
    """Seconds to write the sales, and seconds for the settlement to credit them."""
    settings = Settings(store_url=url)
    ledger = Ledger(settings, clock=SimulatedClock(START))
    try:
        write = write_sales(ledger, invoices, batch)
        settlement = open_settlement(settings, ledger=ledger)
        try:
            gc.collect()
            began = time.perf_counter()
            processed = settlement.catch_up()
            seconds = time.perf_counter() - began
        finally:
            settlement.close()
    finally:
        ledger.close()
    if processed != invoices:
        raise AssertionError(f"{processed} invoice events processed for {invoices} sales")
    return write, seconds


# -- 3. a cold tick ---------------------------------------------------------------------


def cold_tick(url: str) -> float:
    """Seconds for a fresh process's first tick: both due indexes from zero."""
    settings = Settings(store_url=url)
    ledger = Ledger(settings, clock=SimulatedClock(START))
    settlement = open_settlement(settings, ledger=ledger)
    try:
        began = time.perf_counter()
        ledger.tick(START + timedelta(days=1))
        return time.perf_counter() - began
    finally:
        settlement.close()
        ledger.close()


def in_process(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` in a process of its own: a cold start, its own memory."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


# -- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--receivables", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=1_000)
    parser.add_argument("--invoices", type=int, default=67_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--only", choices=("growth", "catch-up", "tick"))
    args = parser.parse_args(argv)
    rows: list[tuple[str, ...]] = [("measure", "baseline", "measured", "ratio", "target")]
    with tempfile.TemporaryDirectory(prefix="bench-settlement-") as folder:
        if args.only in (None, "growth"):
            small, large = in_process(growth, f"sqlite:///{folder}/growth.db",
                                      args.receivables, args.window)
            rows.append((f"ms per credit at {args.receivables:,} receivables vs 1,000",
                         f"{small:.3f}", f"{large:.3f}", f"{large / small:.2f}",
                         f"<= {GROWTH_TARGET}"))
        if args.only in (None, "catch-up", "tick"):
            sqlite = f"sqlite:///{folder}/sales.db"
            write, seconds = in_process(catch_up, sqlite, args.invoices, args.batch)
            rows.append((f"catch-up of {args.invoices:,} sales vs writing them (s)",
                         f"{write:.1f}", f"{seconds:.1f}", f"{seconds / write:.2f}",
                         f"<= {CATCH_UP_TARGET}"))
            if args.only in (None, "tick"):
                rows.append(tick_row(sqlite, args.invoices, args.batch))
    print_table(rows)
    return 0


def tick_row(sqlite: str, invoices: int, batch: int) -> tuple[str, ...]:
    on_sqlite = in_process(cold_tick, sqlite)
    dsn = postgres_dsn()
    reason = postgres_unreachable(dsn)
    if reason is not None:
        print(f"PostgreSQL at {redacted(dsn)} is unreachable ({reason}): cold tick on SQLite only")
        return ("cold tick (s): SQLite, PostgreSQL", f"{on_sqlite:.1f}", "-", "-",
                f"<= {TICK_TARGET}")
    schema = f"bench_settlement_{uuid.uuid4().hex[:10]}"
    url = with_schema(dsn, schema)
    try:
        in_process(catch_up, url, invoices, batch)
        on_postgres = in_process(cold_tick, url)
    finally:
        drop(dsn, schema)
    return ("cold tick (s): SQLite, PostgreSQL", f"{on_sqlite:.1f}",
            f"{on_postgres:.1f}", f"{on_postgres / on_sqlite:.2f}", f"<= {TICK_TARGET}")


def drop(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    raise SystemExit(main())

