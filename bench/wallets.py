"""N credits into one wallet cost about what the same N credits over 100 wallets cost.

A party has one wallet per currency, whatever producer it earned from, so a large
partner's wallet takes a very large number of credits, each a receivable kept in the
balance until it is released. Two stores, made in the same run, each with N paid card
invoices in the Ledger's log (saved in batches straight through `Ledger.save`, as
tests/integration/test_settlement_crash.py does; not timed); each invoice credits
exactly one party (no platform fee, no affiliate, no coproducer):

(a) **one wallet**: every invoice's producer is `partner`: N credits into one balance;
(b) **spread** (the baseline): the producer of invoice n is `partner-{n % 100}`: the
    same N credits over 100 balances.

Timed: `Settlement.catch_up()` over the N `Invoice.Paid` events (pages of 500 events,
one transaction each). Then, for context, a few `AdjustBalance` commands by an operator
on the wallet of `partner` (N receivables) and of `partner-0` (N / 100), each timed
alone (the aggregate cache copies the wallet for each use), and one load of that wallet
by a fresh Settlement (an empty cache: the wallet is replayed from its events).

    python -m payledger.bench.wallets [--credits 100000 | --quick] [--backend sqlite|postgres]
        [--commands 50] [--profile]

Target: time(one wallet) / time(spread) <= 2. Each scenario runs in a process of its
own, so its peak RSS (`resource.getrusage`) is its own. SQLite stores are files under
TMPDIR; PostgreSQL (PAYLEDGER_BENCH_POSTGRES, default
postgresql://postgres@127.0.0.1:5432/test) uses a throwaway `bench_wallets_<random>`
schema per scenario, dropped afterwards.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from payledger.bench.append import (
    postgres_dsn,
    postgres_unreachable,
    print_table,
    redacted,
    with_schema,
)
from payledger.bench.profiling import print_stats
from payledger.domain import commands as c
from payledger.domain.balance import Balance
from payledger.domain.customer import CustomerData
from payledger.domain.envelope import Envelope, acting
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.domain.splits import SplitRules
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.settlement import Settlement, open_settlement

START = datetime(2026, 3, 2, 12, tzinfo=UTC)
DEFAULT_CREDITS = 100_000
QUICK_CREDITS = 10_000
SPREAD = 100  # wallets in the baseline
BATCH = 500  # paid invoices per `Ledger.save` while filling
TARGET = 2.0
BIG = "partner"
CUSTOMER: CustomerData = {"name": "Ana Souza", "email": "ana@example.com",
                          "phone": "+5511999990000", "country": "BR",
                          "document": "11144477735"}
SCENARIOS: dict[str, tuple[str, Callable[[int], str]]] = {
    "spread": (f"spread over {SPREAD} wallets", lambda n: f"{BIG}-{n % SPREAD}"),
    "one": ("one wallet", lambda n: BIG),
}


# -- the store ------------------------------------------------------------------------


def paid_invoice(n: int, party: str) -> Invoice:
    """A paid card invoice whose whole amount goes to `party` (one credit, one wallet)."""
    rules = SplitRules(producer=party, platform_fee_bps=0, platform_fee_fixed=0)
    price = 1_000 + 37 * (n % 101)
    invoice = Invoice(
        id=uuid4(), items=[{"product_id": "course-1", "description": "", "quantity": 1,
                            "unit_price": price}],
        customer=CustomerData(**CUSTOMER), currency="BRL", method="card",
        split_rules=rules.model_dump(mode="json"), subtotal=price, warranty_days=7,
        origin="sale", origin_id=None,
    )
    invoice.request_charge("checkout")
    invoice.approve_card(f"AUTH-{n}")
    return invoice


def fill(ledger: Ledger, credits: int, party_of: Callable[[int], str]) -> None:
    """`credits` paid invoices in the Ledger's log, `BATCH` per save (one transaction)."""
    envelope = Envelope(account="acct-1", at=START, actor="bench", correlation_id=uuid4(),
                        causation_id=None, command_id=uuid4(), actor_kind="platform",
                        actor_role="checkout")
    with acting(envelope):
        for start in range(0, credits, BATCH):
            ledger.save(*(paid_invoice(n, party_of(n))
                          for n in range(start, min(start + BATCH, credits))))


# -- one scenario, in a process of its own --------------------------------------------


@dataclass
class Figures:
    scenario: str
    credits: int
    wallets: int
    fill_seconds: float
    catch_up_seconds: float
    processed: int
    commanded: str  # the party whose wallet the commands moved
    commanded_receivables: int
    command_ms: list[float] = field(default_factory=list)
    cached_load_ms: list[float] = field(default_factory=list)
    cold_load_seconds: float = 0.0
    rss_after_catch_up_mib: float = 0.0  # the process's peak RSS when the catch-up ended
    peak_rss_mib: float = 0.0  # at the end, the cold load included

    @property
    def credits_per_second(self) -> float:
        return self.credits / self.catch_up_seconds


def run_scenario(url: str, scenario: str, credits: int, commands: int,
                 profile: bool) -> Figures:
    _, party_of = SCENARIOS[scenario]
    settings = Settings(store_url=url)
    profiler, command_profiler = ((cProfile.Profile(), cProfile.Profile()) if profile
                                  else (None, None))
    ledger = Ledger(settings, clock=SimulatedClock(START))
    try:
        began = time.perf_counter()
        fill(ledger, credits, party_of)
        fill_seconds = time.perf_counter() - began
        settlement = open_settlement(settings, ledger=ledger)
        try:
            gc.collect()
            began = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            processed = settlement.catch_up()
            if profiler is not None:
                profiler.disable()
            catch_up_seconds = time.perf_counter() - began
            wallets = check(settlement, credits, processed,
                            {party_of(n) for n in range(min(credits, SPREAD))})
            commanded = party_of(0)
            wallet = settlement.load(Balance, Balance.create_id(commanded, "BRL"))
            figures = Figures(scenario, credits, wallets, fill_seconds, catch_up_seconds,
                              processed, commanded, len(wallet.receivables))
            figures.rss_after_catch_up_mib = peak_rss_mib()
            figures.command_ms = adjust(settlement, commanded, commands, command_profiler)
            figures.cached_load_ms = cached_loads(settlement, commanded, commands)
        finally:
            settlement.close()
        figures.cold_load_seconds = cold_load(settings, ledger, commanded)
    finally:
        ledger.close()
    figures.peak_rss_mib = peak_rss_mib()
    if profiler is not None:
        print_profile(f"{SCENARIOS[scenario][0]}, catch-up of {credits:,} credits", profiler)
    if command_profiler is not None:
        print_profile(f"{SCENARIOS[scenario][0]}, {commands} AdjustBalance on "
                      f"{figures.commanded_receivables:,} receivables", command_profiler)
    return figures


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def check(settlement: Settlement, credits: int, processed: int, parties: set[str]) -> int:
    """Every invoice credited exactly one wallet, of the scenario's parties; how many."""
    if processed != credits:
        raise AssertionError(f"{processed} invoice events processed for {credits} credits")
    receivables = 0
    for party in parties:
        receivables += len(settlement.load(Balance, Balance.create_id(party, "BRL")).receivables)
    if receivables != credits:
        raise AssertionError(f"{receivables} receivables for {credits} credits")
    return len(parties)


def adjust(settlement: Settlement, party: str, commands: int,
           profiler: cProfile.Profile | None = None) -> list[float]:
    """`commands` operator adjustments of `party`'s wallet, each timed alone (ms)."""
    operator = Actor.platform("operator", id="ops", account=party)
    balance_id = Balance.create_id(party, "BRL")
    timings = []
    for k in range(commands):
        command = c.AdjustBalance(balance_id=balance_id, amount=100, reason=f"bench {k}")
        if profiler is not None:
            profiler.enable()
        began = time.perf_counter()
        settlement.execute(operator, command)
        timings.append((time.perf_counter() - began) * 1000)
        if profiler is not None:
            profiler.disable()
    return timings


def cached_loads(settlement: Settlement, party: str, times: int) -> list[float]:
    """`party`'s wallet loaded `times` from the aggregate cache (fast-forwarded, then
    copied for the caller), each timed alone (ms): the part of a command that grows
    with the wallet."""
    balance_id = Balance.create_id(party, "BRL")
    timings = []
    for _ in range(times):
        began = time.perf_counter()
        settlement.repository.get(balance_id)
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def cold_load(settings: Settings, ledger: Ledger, party: str) -> float:
    """Seconds for a fresh Settlement (empty aggregate cache) to load `party`'s wallet."""
    fresh = open_settlement(settings, ledger=ledger)
    try:
        began = time.perf_counter()
        fresh.load(Balance, Balance.create_id(party, "BRL"))
        return time.perf_counter() - began
    finally:
        fresh.close()


def print_profile(title: str, profiler: cProfile.Profile, lines: int = 30) -> None:
    print_stats(title, profiler, lines, orders=("cumulative", "tottime"))


def in_own_process(url: str, scenario: str, credits: int, commands: int,
                   profile: bool) -> Figures:
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(run_scenario, url, scenario, credits, commands, profile).result()


# -- stores ---------------------------------------------------------------------------


@contextmanager
def sqlite_url(root: Path, scenario: str) -> Iterator[str]:
    yield f"sqlite:///{root / scenario / 'events.db'}"


@contextmanager
def postgres_url(dsn: str, scenario: str) -> Iterator[str]:
    import psycopg

    schema = f"bench_wallets_{uuid.uuid4().hex[:10]}_{scenario}"
    try:
        yield with_schema(dsn, schema)
    finally:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# -- report ---------------------------------------------------------------------------


def report(backend: str, spread: Figures, one: Figures, profiled: bool) -> None:
    rows: list[tuple[str, ...]] = [
        ("scenario", "wallets", "credits", "catch-up s", "credits/s",
         "peak RSS MiB, catch-up", "at the end", "fill s (untimed)")]
    for f in (spread, one):
        rows.append((SCENARIOS[f.scenario][0], f"{f.wallets}", f"{f.credits:,}",
                     f"{f.catch_up_seconds:.2f}", f"{f.credits_per_second:,.0f}",
                     f"{f.rss_after_catch_up_mib:,.0f}", f"{f.peak_rss_mib:,.0f}",
                     f"{f.fill_seconds:.1f}"))
    print_table(rows)
    ratio = one.catch_up_seconds / spread.catch_up_seconds
    verdict = "met" if ratio <= TARGET else "NOT met"
    if profiled:
        verdict = "not measured: the one-wallet catch-up ran under cProfile"
    print(f"{backend}: ratio one wallet / spread (catch-up seconds) {ratio:.2f} "
          f"(target <= {TARGET:.1f}: {verdict})")
    print("\ncontext (not the target), on one wallet of each scenario: an operator's "
          "AdjustBalance, each command timed alone (median, min-max); a load from the "
          "aggregate cache (fast-forward + copy); a fresh Settlement's load (replay, no cache)")
    rows = [("wallet", "receivables", "commands", "AdjustBalance ms", "min-max ms",
             "cached load ms", "cold load s")]
    for f in (spread, one):
        rows.append((f.commanded, f"{f.commanded_receivables:,}", f"{len(f.command_ms)}",
                     f"{statistics.median(f.command_ms):.2f}",
                     f"{min(f.command_ms):.2f}-{max(f.command_ms):.2f}",
                     f"{statistics.median(f.cached_load_ms):.2f}",
                     f"{f.cold_load_seconds:.2f}"))
    print_table(rows)
    command_ratio = statistics.median(one.command_ms) / statistics.median(spread.command_ms)
    load_ratio = statistics.median(one.cached_load_ms) / statistics.median(spread.cached_load_ms)
    print(f"{one.commanded_receivables:,} receivables / {spread.commanded_receivables:,}: "
          f"AdjustBalance {command_ratio:.2f}x, cached load {load_ratio:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m payledger.bench.wallets",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--credits", type=int, default=DEFAULT_CREDITS,
                        help=f"credits per scenario (default {DEFAULT_CREDITS:,})")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_CREDITS:,} credits, a fast check")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--commands", type=int, default=50,
                        help="AdjustBalance commands (and cached loads) timed on each "
                             "scenario's wallet (default 50)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the one-wallet catch-up and its commands "
                             "(top functions); its timings then carry the profiler's cost")
    args = parser.parse_args(argv)
    credits = QUICK_CREDITS if args.quick else args.credits
    if credits < SPREAD or args.commands < 1:
        parser.error(f"--credits must be at least {SPREAD}, --commands at least 1")
    where = tempfile.gettempdir() if args.backend == "sqlite" else redacted(postgres_dsn())
    print(f"payledger wallets benchmark: {credits:,} credits into one wallet vs over "
          f"{SPREAD} wallets, Settlement.catch_up() on {args.backend} ({where}); each "
          "scenario in its own process")
    if args.backend == "postgres":
        reason = postgres_unreachable(postgres_dsn())
        if reason is not None:
            print(f"postgres: SKIPPED, PostgreSQL unreachable: {reason}")
            return 0
    figures: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory(prefix="payledger-wallets-") as tmp:
        for scenario in ("spread", "one"):  # the baseline first
            store = (sqlite_url(Path(tmp), scenario) if args.backend == "sqlite"
                     else postgres_url(postgres_dsn(), scenario))
            with store as url:
                figures[scenario] = in_own_process(url, scenario, credits, args.commands,
                                                   args.profile and scenario == "one")
            print(f"  {SCENARIOS[scenario][0]}: catch-up "
                  f"{figures[scenario].catch_up_seconds:.2f} s", flush=True)
    print()
    report(args.backend, figures["spread"], figures["one"], args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
