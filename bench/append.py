"""Append throughput: payledger's command path against the plain `eventsourcing` library.

    TMPDIR=/dev/shm python -m payledger.bench.append [--events N] [--backend ...]
    python -m payledger.bench.append --mode batch          # on a SQLite file on disk

Two scenarios, each in one run and on the same kind of store for both paths:

**single** (the target is on a RAM disk, where the run is CPU-bound: on a disk the fsync
per commit hides the difference):
(a) **plain**: a plain `eventsourcing.Application` (its own recorder and its own fresh
    store: a SQLite file, or a PostgreSQL schema) saving a plain `Aggregate` subclass
    with invoice-like events: a created event with items / customer / split dicts, then
    ChargeRequested, then Paid with a splits list. Each step is one `save()` of one
    aggregate, and steps two and three first get the aggregate from the repository, so
    the transactions are the same as payledger's (one load and one save per command).
(b) **payledger**: the same sale as commands through `Ledger.execute` (CreateInvoice by
    the checkout, RequestCharge, ApproveCard), each with an idempotency key as the
    README's example uses it, on a SimulatedClock. The commands are built (pydantic
    validation) before the clock starts; that cost is printed apart.
Target: payledger >= 80% of the plain library's event rate.

**batch** (a host importing a platform's history): (a) the plain library saving the
events of 100 sales in one transaction (`save(*invoices)`), against (b)
`Ledger.execute_many` with the 300 commands of 100 sales per call. Target: >= 70%.

Both applications get the same aggregate cache (the library's, fast-forwarded, of
payledger's default size). Both paths are warmed up first, then timed 5 times,
interleaved in pairs (plain, payledger) with `time.perf_counter`; the figures are the
medians of the 5 runs and the ratio is the median of the 5 pairs' ratios. Events/s
counts the three domain events of a sale (the idempotency records aside).

PostgreSQL is at PAYLEDGER_BENCH_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test);
each run creates schemas named `bench_<random>` and drops them at the end. When the
server is unreachable the backend is skipped with a message (exit status 0).

`--shapes` also times two other ways the plain library could save the same sale (the
aggregate kept in memory; all three events in one save), as context for the ratio.
`--profile` adds a cProfile of one payledger run and one plain run per backend.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from payledger.adapters.store import creating_tables, parse_store_url
from payledger.bench.profiling import print_stats
from payledger.domain import commands as c
from payledger.domain.customer import Customer
from payledger.domain.permissions import Actor
from payledger.domain.splits import SplitLine, SplitRules, split
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.settings import Settings

TARGETS = {"single": 0.80, "batch": 0.70}
REPEATS = 5
BATCH_SALES = 100
DEFAULT_EVENTS = 600
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
EVENTS_PER_SALE = 3  # created, charge requested, paid

# The same inputs as tests/factories.py (tests/ is not part of the installed package).
CUSTOMER: dict[str, Any] = {
    "name": "Ana Souza", "email": "ana@example.com", "phone": "+5511999990000",
    "country": "BR", "document": "11144477735",
}
SPLIT: dict[str, Any] = {
    "producer": "producer-1", "platform_fee_bps": 990, "platform_fee_fixed": 100,
    "affiliate": {"party": "affiliate-1", "bps": 3000},
    "coproducers": [{"party": "coproducer-1", "bps": 2500}],
}
ITEMS: list[dict[str, Any]] = [{"product_id": "course-1", "unit_price": 10_000}]


# -- (a) the plain library ------------------------------------------------------------


class PlainInvoice(Aggregate):
    """An invoice-like plain aggregate: the payloads payledger's Invoice stores."""

    TOPIC = "payledger.bench:PlainInvoice"

    @event("Created", topic="payledger.bench:PlainInvoice.Created")
    def __init__(
        self, items: list[dict[str, Any]], customer: dict[str, Any], currency: str,
        method: str, split_rules: dict[str, Any], subtotal: int, warranty_days: int,
        origin: str, origin_id: UUID | None,
    ) -> None:
        self.items = items
        self.customer = customer
        self.currency = currency
        self.method = method
        self.split_rules = split_rules
        self.subtotal = subtotal
        self.total = subtotal
        self.warranty_days = warranty_days
        self.origin = origin
        self.origin_id = origin_id
        self.status = "draft"
        self.attempts = 0
        self.paid = 0
        self.splits: list[SplitLine] = []
        self.paid_at: datetime | None = None
        self.instrument: str | None = None

    def request_charge(self, reason: str) -> None:
        self._charge_requested(attempt=self.attempts + 1, reason=reason)

    @event("ChargeRequested", topic="payledger.bench:PlainInvoice.ChargeRequested")
    def _charge_requested(self, attempt: int, reason: str) -> None:
        self.attempts = attempt
        self.status = "open"

    def approve_card(self, authorization_code: str, splits: list[SplitLine],
                     paid_at: datetime) -> None:
        self._paid(reference=authorization_code, amount=self.total, splits=splits,
                   paid_at=paid_at, late=False)

    @event("Paid", topic="payledger.bench:PlainInvoice.Paid")
    def _paid(self, reference: str, amount: int, splits: list[SplitLine],
              paid_at: datetime, late: bool) -> None:
        self.instrument = reference
        self.paid = amount
        self.splits = splits
        self.paid_at = paid_at
        self.status = "paid"


class PlainApp(Application[UUID]):
    name = "plainbench"


def cache_env(name: str) -> dict[str, str]:
    """The aggregate cache payledger's applications use, for the plain one too."""
    return {f"{name.upper()}_AGGREGATE_CACHE_MAXSIZE": str(Settings().aggregate_cache)}


class PlainPath:
    """(a): one save per step, loading the aggregate before steps two and three."""

    def __init__(self, url: str) -> None:
        store = parse_store_url(url)
        with creating_tables(store):
            self.app = PlainApp(env={**store.env(PlainApp.name), **cache_env(PlainApp.name)})
        self.subtotal = sum(item["unit_price"] for item in ITEMS)
        rules = SplitRules.model_validate(SPLIT)
        self.split_rules = rules.model_dump(mode="json")
        self.splits = split(self.subtotal, rules)

    def prepare(self, sales: int, shape: str = "reload") -> Callable[[], int]:
        """`reload` is the measured baseline; `memory` and `one-save` are for context."""
        app, repository = self.app, self.app.repository

        def new() -> PlainInvoice:
            return PlainInvoice(
                items=ITEMS, customer=CUSTOMER, currency="BRL", method="card",
                split_rules=self.split_rules, subtotal=self.subtotal, warranty_days=7,
                origin="sale", origin_id=None,
            )

        def reload() -> int:
            for k in range(sales):
                invoice = new()
                app.save(invoice)
                invoice = repository.get(invoice.id)
                invoice.request_charge("checkout")
                app.save(invoice)
                invoice = repository.get(invoice.id)
                invoice.approve_card(f"AUTH{k:06d}", self.splits, START)
                app.save(invoice)
            return sales * EVENTS_PER_SALE

        def memory() -> int:
            for k in range(sales):
                invoice = new()
                app.save(invoice)
                invoice.request_charge("checkout")
                app.save(invoice)
                invoice.approve_card(f"AUTH{k:06d}", self.splits, START)
                app.save(invoice)
            return sales * EVENTS_PER_SALE

        def one_save() -> int:
            for k in range(sales):
                invoice = new()
                invoice.request_charge("checkout")
                invoice.approve_card(f"AUTH{k:06d}", self.splits, START)
                app.save(invoice)
            return sales * EVENTS_PER_SALE

        def batch() -> int:
            for first in range(0, sales, BATCH_SALES):
                invoices = [new() for _ in range(first, min(first + BATCH_SALES, sales))]
                for k, invoice in enumerate(invoices, first):
                    invoice.request_charge("checkout")
                    invoice.approve_card(f"AUTH{k:06d}", self.splits, START)
                app.save(*invoices)
            return sales * EVENTS_PER_SALE

        shapes = {"reload": reload, "memory": memory, "one-save": one_save, "batch": batch}
        return shapes[shape]

    def close(self) -> None:
        self.app.close()


# -- (b) payledger's command path -----------------------------------------------------


class LedgerPath:
    """(b): CreateInvoice, RequestCharge, ApproveCard through `Ledger.execute`, or the
    commands of `BATCH_SALES` sales per `Ledger.execute_many`."""

    def __init__(self, url: str) -> None:
        self.ledger = Ledger(Settings(store_url=url), clock=SimulatedClock(START))
        self.checkout = Actor.platform("checkout", id="checkout-svc", account="acct-1")
        self.gateway = Actor.platform("gateway", id="gateway-svc", account="acct-1")
        self.build_seconds = 0.0

    def commands(self, sales: int) -> list[tuple[Actor, c.Command]]:
        started = time.perf_counter()
        steps: list[tuple[Actor, c.Command]] = []
        for k in range(sales):
            invoice_id = uuid.uuid4()
            key = invoice_id.hex
            steps += [
                (self.checkout, c.CreateInvoice(
                    invoice_id=invoice_id, items=tuple(c.Item(**item) for item in ITEMS),
                    customer=Customer.parse(**CUSTOMER), currency="BRL", method="card",
                    split=SplitRules.model_validate(SPLIT), idempotency_key=f"{key}-create")),
                (self.checkout, c.RequestCharge(invoice_id=invoice_id,
                                                idempotency_key=f"{key}-charge")),
                (self.gateway, c.ApproveCard(invoice_id=invoice_id,
                                             authorization_code=f"AUTH{k:06d}",
                                             idempotency_key=f"{key}-approve")),
            ]
        self.build_seconds = time.perf_counter() - started
        return steps

    def prepare(self, sales: int, mode: str = "single") -> Callable[[], int]:
        steps = self.commands(sales)
        ledger = self.ledger

        def single() -> int:
            for actor, command in steps:
                ledger.execute(actor, command)
            return sales * EVENTS_PER_SALE

        def batch() -> int:
            size = BATCH_SALES * EVENTS_PER_SALE
            for first in range(0, len(steps), size):
                ledger.execute_many(steps[first:first + size])
            return sales * EVENTS_PER_SALE

        return single if mode == "single" else batch

    def close(self) -> None:
        self.ledger.close()


# -- measuring ------------------------------------------------------------------------


@dataclass
class Runs:
    """The timed runs of one path: seconds and events of each."""

    seconds: list[float] = field(default_factory=list)
    events: list[int] = field(default_factory=list)

    def add(self, seconds: float, events: int) -> None:
        self.seconds.append(seconds)
        self.events.append(events)

    @property
    def rates(self) -> list[float]:
        return [e / s for e, s in zip(self.events, self.seconds, strict=True)]

    @property
    def events_per_second(self) -> float:
        return statistics.median(self.rates)


CONTEXT_SHAPES = {
    "memory": "plain, aggregate kept in memory (3 saves, no loads)",
    "one-save": "plain, one save of all 3 events per sale",
}


@dataclass
class Result:
    backend: str
    mode: str
    plain: Runs
    ledger: Runs
    build_seconds: float
    context: dict[str, Runs] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """The median of the pairs' ratios (each pair ran back to back)."""
        return statistics.median(
            mine / theirs for mine, theirs in zip(self.ledger.rates, self.plain.rates, strict=True))

    @property
    def target(self) -> float:
        return TARGETS[self.mode]


def timed(run: Callable[[], int]) -> tuple[float, int]:
    gc.collect()
    started = time.perf_counter()
    events = run()
    return time.perf_counter() - started, events


def measure(backend: str, plain_url: str, ledger_url: str, sales: int, warmup: int,
            modes: tuple[str, ...], shapes: bool, profile: bool) -> list[Result]:
    plain = PlainPath(plain_url)
    try:
        ledger = LedgerPath(ledger_url)
    except BaseException:
        plain.close()
        raise
    try:
        results = []
        for mode in modes:
            plain_shape = "reload" if mode == "single" else "batch"
            plain.prepare(warmup, plain_shape)()
            ledger.prepare(warmup, mode)()
            result = Result(backend, mode, Runs(), Runs(), 0.0)
            for _ in range(REPEATS):  # interleaved pairs, so drift hurts both paths alike
                result.plain.add(*timed(plain.prepare(sales, plain_shape)))
                run = ledger.prepare(sales, mode)
                result.build_seconds = max(result.build_seconds, ledger.build_seconds)
                result.ledger.add(*timed(run))
            for shape in CONTEXT_SHAPES if shapes and mode == "single" else ():
                runs = result.context[shape] = Runs()
                for _ in range(REPEATS):
                    runs.add(*timed(plain.prepare(sales, shape)))
            if profile:
                print_profile(f"{backend} {mode}: plain eventsourcing",
                              plain.prepare(sales, plain_shape))
                print_profile(f"{backend} {mode}: payledger", ledger.prepare(sales, mode))
            results.append(result)
        return results
    finally:
        ledger.close()
        plain.close()


def print_profile(title: str, run: Callable[[], int], lines: int = 30) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    print_stats(title, profiler, lines)


# -- stores ---------------------------------------------------------------------------


@contextmanager
def sqlite_stores() -> Iterator[tuple[str, str]]:
    with tempfile.TemporaryDirectory(prefix="payledger-bench-") as tmp:
        root = Path(tmp)
        yield (f"sqlite:///{root / 'plain' / 'events.db'}",
               f"sqlite:///{root / 'ledger' / 'events.db'}")


def postgres_dsn() -> str:
    return os.environ.get("PAYLEDGER_BENCH_POSTGRES", DEFAULT_POSTGRES)


def postgres_unreachable(dsn: str) -> str | None:
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except psycopg.OperationalError as error:
        return str(error).strip().splitlines()[0]


def redacted(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def with_schema(dsn: str, schema: str) -> str:
    parts = urlsplit(dsn)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"] + [("schema", schema)]
    return urlunsplit(parts._replace(query=urlencode(query)))


@contextmanager
def postgres_stores(dsn: str) -> Iterator[tuple[str, str]]:
    import psycopg

    tag = uuid.uuid4().hex[:10]
    schemas = (f"bench_{tag}_plain", f"bench_{tag}_ledger")
    try:
        yield with_schema(dsn, schemas[0]), with_schema(dsn, schemas[1])
    finally:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# -- report ---------------------------------------------------------------------------


def print_table(rows: list[tuple[str, ...]], text_columns: int = 1) -> None:
    """The first row is the header; the first `text_columns` are left-aligned, the rest right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    rule = "  ".join("-" * w for w in widths)
    print(rule)
    for n, row in enumerate(rows):
        cells = [cell.ljust(w) if i < text_columns else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        print("  ".join(cells))
        if n == 0:
            print(rule)
    print(rule)


def report(results: list[Result], events: int) -> None:
    rows: list[tuple[str, ...]] = [
        ("backend", "scenario", "plain events/s", "payledger events/s", "ratio (median)",
         "pairs' ratios", "target")]
    for r in results:
        pairs = " ".join(f"{mine / theirs:.2f}"
                         for mine, theirs in zip(r.ledger.rates, r.plain.rates, strict=True))
        rows.append((
            r.backend, r.mode, f"{r.plain.events_per_second:,.0f}",
            f"{r.ledger.events_per_second:,.0f}", f"{r.ratio:.2f}", pairs,
            f">= {r.target:.2f} {'met' if r.ratio >= r.target else 'NOT met'}",
        ))
    print_table(rows, text_columns=2)
    print("ratio = payledger events/s / plain events/s, per back-to-back pair; single: one "
          "command per transaction; batch: "
          f"{BATCH_SALES} sales ({BATCH_SALES * EVENTS_PER_SALE} commands) per transaction")
    for r in results:
        print(f"{r.backend} {r.mode}: building the {events} commands (pydantic) took at most "
              f"{r.build_seconds * 1000:.0f} ms per run, outside the timed runs")
    if not any(r.context for r in results):
        return
    print("\ncontext (not the target): other ways the plain library could save the same sale")
    rows = [("backend", "plain shape", "events/s", "payledger single / this")]
    for r in results:
        for shape, runs in r.context.items():
            rows.append((r.backend, CONTEXT_SHAPES[shape], f"{runs.events_per_second:,.0f}",
                         f"{r.ledger.events_per_second / runs.events_per_second:.2f}"))
    print_table(rows, text_columns=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m payledger.bench.append",
        description="Append throughput of payledger's command path against the plain "
                    "eventsourcing library (targets: >= 80%% one command per transaction, "
                    ">= 70%% batched).",
        epilog=f"PostgreSQL: PAYLEDGER_BENCH_POSTGRES (default {DEFAULT_POSTGRES}).")
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS,
                        help=f"events per timed run and path, 3 per sale "
                             f"(default {DEFAULT_EVENTS})")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--mode", choices=("single", "batch", "both"), default="both",
                        help="one command per transaction, execute_many per "
                             f"{BATCH_SALES} sales, or both (default)")
    parser.add_argument("--shapes", action="store_true",
                        help="also time the plain library keeping the aggregate in memory "
                             "and saving a sale in one save (context, not the target)")
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile one run of each path per backend")
    args = parser.parse_args(argv)
    if args.events < EVENTS_PER_SALE:
        parser.error(f"--events must be at least {EVENTS_PER_SALE}")
    sales = args.events // EVENTS_PER_SALE
    events = sales * EVENTS_PER_SALE
    warmup = max(10, sales // 10)

    modes = ("single", "batch") if args.mode == "both" else (args.mode,)
    print(f"payledger append benchmark: {events} events per timed run ({sales} sales x "
          "create, charge, pay), idempotency keys on; stores under "
          f"{tempfile.gettempdir()} (sqlite)")
    print(f"warm-up: {warmup} sales per path, then {REPEATS} timed pairs (plain, payledger; "
          "time.perf_counter); figures are medians")
    results: list[Result] = []
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for backend in backends:
        if backend == "sqlite":
            with sqlite_stores() as (plain_url, ledger_url):
                results += measure("sqlite", plain_url, ledger_url, sales, warmup,
                                   modes, args.shapes, args.profile)
            continue
        dsn = postgres_dsn()
        reason = postgres_unreachable(dsn)
        if reason is not None:
            print(f"postgres: SKIPPED, PostgreSQL unreachable at {redacted(dsn)}: {reason}")
            continue
        with postgres_stores(dsn) as (plain_url, ledger_url):
            results += measure("postgres", plain_url, ledger_url, sales, warmup,
                               modes, args.shapes, args.profile)
    print()
    if results:
        report(results, events)
    else:
        print("no backend was measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
