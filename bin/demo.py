"""`payledger demo`: run the simulator on a store and print what it wrote."""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import datetime, timedelta
from uuid import UUID

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from payledger.adapters.timer_index import Due
from payledger.dead_letters import letters
from payledger.domain.balance import Balance
from payledger.domain.errors import NotFound, ValidationError
from payledger.domain.money import format_minor
from payledger.domain.time import SimulatedClock, aware, local_date
from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.settlement import Settlement, open_settlement, reset_settlement
from payledger.simulation import (
    START,
    Mix,
    Report,
    Simulation,
    adjustments,
    balances,
    money,
    states,
)

console = Console()


DEMO_DEFAULTS = {"dunning_failed_cycles": 2}
"""The demo shop's own policy where the environment says nothing: two failed renewal
cycles make a subscription unpaid, so a 90-day story shows it."""


def folding_table(title: str, *columns: str) -> Table:
    """A table whose cells wrap, never cut, however narrow the terminal: no name or
    amount is ever shown in part."""
    made = Table(title=title)
    for column in columns:
        made.add_column(column, overflow="fold")
    return made


def show(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """`rows` as one table when it fits the terminal whole; otherwise the narrower
    layout, one small table per row (figure, value), so no cell is ever split."""
    widths = [max(len(cell) for cell in cells) for cells in zip(columns, *rows, strict=True)]
    if sum(widths) + 3 * len(widths) + 1 <= console.width:  # cells, padding and borders
        table = folding_table(title, *columns)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    console.print(f"[italic]{title}[/italic]")
    for row in rows:
        record = folding_table(row[0], "figure", "value")
        for column, cell in zip(columns[1:], row[1:], strict=True):
            record.add_row(column, cell)
        console.print(record)


def open_ledger(store: str | None, clock: SimulatedClock | None = None) -> Ledger:
    return Ledger(Settings.from_env(store_url=store), clock=clock)


def open_demo_ledger(store: str | None, clock: SimulatedClock) -> Ledger:
    env = Settings.from_env()
    unset = {k: v for k, v in DEMO_DEFAULTS.items() if f"PAYLEDGER_{k.upper()}" not in os.environ}
    return Ledger(Settings.from_env(None, store_url=store or env.store_url, **unset), clock=clock)


def run_demo(store: str | None, *, seed: int, days: int, checkouts: int) -> None:
    """Run the story; on a store that already holds one, the next days of it follow."""
    clock = SimulatedClock(START)
    ledger = open_demo_ledger(store, clock)
    try:
        settlement = open_settlement(ledger.settings, clock=clock, ledger=ledger)
        try:
            before = ledger.recorder.max_notification_id() or 0
            balances_before = settlement.recorder.max_notification_id() or 0
            start = continue_from(ledger, before)
            clock.set(start)
            began = time.perf_counter()
            report = _simulate(ledger, settlement, clock, seed, days, checkouts)
            settlement.catch_up()
            elapsed = time.perf_counter() - began
            written = (ledger.recorder.max_notification_id() or 0) - before
            _summary(ledger, settlement, report, (before, written), elapsed)
            _dates(start, days, ledger.settings.timezone, continued=before > 0)
            _event_types(ledger, before, settlement, balances_before)
        finally:
            settlement.close()
    finally:
        ledger.close()


def continue_from(ledger: Ledger, position: int) -> datetime:
    """The story's first instant: START, or the local midnight after the store's last event."""
    if not position:
        return START
    last = ledger.recorder.select_notifications(start=position, limit=1)[0]
    at: datetime = ledger.mapper.transcoder.decode(last.state)["at"]
    return START + (at - START).days * timedelta(days=1) + timedelta(days=1)


def _simulate(ledger: Ledger, settlement: Settlement, clock: SimulatedClock, seed: int,
              days: int, checkouts: int) -> Report:
    simulation = Simulation(ledger, clock, seed=seed, days=days,
                            mix=Mix(checkouts_per_day=checkouts), settlement=settlement)
    columns = (TextColumn("simulating"), BarColumn(), MofNCompleteColumn(),
               TextColumn("days"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("days", total=days)
        return simulation.run(on_day=lambda day: progress.update(task, completed=day))


def _summary(ledger: Ledger, settlement: Settlement, report: Report,
             log: tuple[int, int], elapsed: float) -> None:
    before, written = log
    console.print(f"\n[bold]payledger demo[/bold]: seed {report.seed}, {report.days} days, "
                  f"store {ledger.settings.store_url}")
    console.print(f"{report.commands:,} commands, {written:,} events written in {elapsed:.1f} s "
                  f"({written / max(elapsed, 1e-9):,.0f} events/s); "
                  f"{sum(report.refused.values()):,} refused as the rules require; "
                  f"{report.timed_steps:,} time-driven steps run by ticks, which took "
                  f"{report.tick_seconds:.1f} s ({report.tick_seconds / max(elapsed, 1e-9):.0%} "
                  "of the run)")
    table = folding_table("States reached", "aggregate", "state", "count")
    for kind, counts in states(ledger, report, settlement).items():
        for state, count in sorted(counts.items()):
            table.add_row(kind, state, f"{count:,}")
    console.print(table)
    totals = money(ledger, before)
    moved = folding_table("Money moved", "money (BRL)", "amount")
    for name, cents in totals.items():
        moved.add_row(name, format_minor(cents, 2))
    console.print(moved)
    _balances(settlement)
    _principals(report)
    if report.refused:
        refused = folding_table("Refused commands", "command: error", "count")
        for name, count in report.refused.most_common():
            refused.add_row(name, f"{count:,}")
        console.print(refused)


def _principals(report: Report) -> None:
    """Which principal did what: the platform's checkout, gateway and operators, the
    accounts' owners and collaborators, and the scheduler's timed steps."""
    table = folding_table("Who did what", "kind", "role", "commands")
    counts = {**report.by_principal, "platform:scheduler": report.timed_steps}
    for name, count in sorted(counts.items()):
        kind, role = name.split(":", 1)
        table.add_row(kind, role, f"{count:,}")
    console.print(table)


def _balances(settlement: Settlement) -> None:
    """Every wallet; a "fees owed" column when a producer gave back a platform fee the
    platform kept (PAYLEDGER_REFUND_PLATFORM_FEE=false, docs/money.md)."""
    found = list(balances(settlement))
    owed_fees = any(balance.fees_owed for balance in found)
    columns = ["party", "pending", "available", "reserved", "disputed", "in flight",
               "withdrawn", *(["fees owed"] if owed_fees else [])]
    rows: list[list[str]] = []
    held = 0
    for balance in found:
        held += balance.holding + balance.withdrawn
        party = (f"{balance.party} (of {balance.selling_account})" if balance.platform
                 else balance.party)
        figures = [balance.pending, balance.available, balance.reserved, balance.disputed,
                   balance.in_flight, balance.withdrawn,
                   *([balance.fees_owed] if owed_fees else [])]
        rows.append([party, *(format_minor(cents, 2) for cents in figures)])
    show("Balances (BRL)", columns, rows)
    whole = money(settlement.ledger)  # every run on this store, like the balances
    owed = (whole["paid"] - whole["refunded"] - whole["charged back"]
            + adjustments(settlement))
    verdict = "holds" if held == owed else "[red]does not hold[/red]"
    console.print(f"conservation {verdict}: balances + withdrawn = {format_minor(held, 2)}; "
                  f"paid - refunded - charged back + adjustments = {format_minor(owed, 2)}")


def _dates(start: datetime, days: int, timezone: str, *, continued: bool) -> None:
    """Which simulated days the run covered, and on a store that held a story before,
    which figures are this run's and which cover every run."""
    first = local_date(start, timezone)
    last = local_date(start + timedelta(days=days) - timedelta(seconds=1), timezone)
    console.print(f"simulated {first.isoformat()} to {last.isoformat()} "
                  f"({days} day{'s' if days > 1 else ''}, business time in {timezone})")
    if continued:
        console.print(f"continued the story this store already held, from "
                      f"{first.isoformat()}: states reached, money moved, who did "
                      "what, refusals and events written are this run's; balances and the "
                      "conservation check cover every run")


def _event_types(ledger: Ledger, after: int, settlement: Settlement,
                 balances_after: int) -> None:
    """The events this run wrote, in both logs (the ledger's and the balances')."""
    counts: Counter[str] = Counter()
    for app, position in ((ledger, after), (settlement, balances_after)):
        start = position + 1
        while page := app.recorder.select_notifications(start=start, limit=1000):
            counts.update(n.topic.removeprefix("payledger:") for n in page)
            start = page[-1].id + 1
    table = folding_table("Events written", "event", "count")
    for topic, count in sorted(counts.items()):
        table.add_row(topic, f"{count:,}")
    console.print(table)


def run_tick(store: str | None, as_of: str) -> None:
    """The Ledger's steps (expiries, renewals, installments, ...), then the settlement's
    (releases, reserves), which follow from what the first wrote."""
    instant = _instant(as_of)
    ledger = open_ledger(store)
    try:
        settlement = open_settlement(ledger.settings, ledger=ledger)
        try:
            report = ledger.tick(instant)  # the settlement's steps follow the Ledger's
            reports = {"ledger": report, **report.followers}
        finally:
            settlement.close()
    finally:
        ledger.close()
    for name, report in reports.items():
        console.print(f"{name} tick to {report.as_of.isoformat()}: {report.executed} steps run "
                      f"in {report.rounds} rounds, {len(report.refused)} refused, "
                      f"{report.lost} left for the next tick (lost a race "
                      f"{report.retried} times)")
        for timer, reason in report.refused:
            console.print(f"  refused {timer.action} of {timer.aggregate_id}: {reason}")


def run_scheduler_status(store: str | None, as_of: str | None) -> None:
    """Both schedulers' status: due steps, and failed ones with their error; a failed
    release names the matured money it holds back."""
    ledger = open_ledger(store)
    try:
        instant = _instant(as_of) if as_of else ledger.clock.now()
        settlement = open_settlement(ledger.settings, ledger=ledger)
        try:
            statuses = [ledger.scheduler.status(instant), settlement.scheduler.status(instant)]
            rows = [[status.app, failed.timer.action, str(failed.timer.aggregate_id),
                     failed.timer.due_at.isoformat(), _held_back(settlement, failed.timer,
                                                                 instant), failed.error]
                    for status in statuses for failed in status.failed]
        finally:
            settlement.close()
    finally:
        ledger.close()
    for status in statuses:
        console.print(f"{status.app}: {status.due} steps due by {instant.isoformat()}, "
                      f"{len(status.failed)} failed")
    if rows:
        show("Failed steps (run again by `payledger dead-letters retry`)",
             ["app", "step", "aggregate", "due", "held back", "error"], rows)


def _held_back(settlement: Settlement, timer: Due, as_of: datetime) -> str:
    """What a failed release keeps pending though it matured ("" for other steps)."""
    if timer.action != "release":
        return ""
    found: Balance = settlement.repository.get(timer.aggregate_id)
    matured = sum(r["amount"] for r in found.receivables.values() if r["available_on"] <= as_of)
    return format_minor(matured, 2)


def _instant(text: str) -> datetime:
    try:
        return aware(datetime.fromisoformat(text), "as_of")
    except ValueError:
        raise ValidationError("as_of", f"{text!r} is not an ISO 8601 instant") from None


def run_settlement_reset(store: str | None) -> None:
    report = reset_settlement(Settings.from_env(store_url=store))
    console.print(f"settlement store moved to {report.moved_to}; caught up again from the "
                  f"ledger's log: {report.processed:,} invoice events")
    if not report.dropped:
        console.print("nothing else was held by the old store")
        return
    table = folding_table("Held only by the old store: enter again as the party", "dropped",
                          "party", "old account", "at", "detail")
    for item in report.dropped:
        table.add_row(item.what, item.party, item.account, item.at, item.detail)
    console.print(table)


def run_dead_letters(store: str | None, action: str) -> None:
    """List or retry the dead letters of the settlement and both schedulers."""
    ledger = open_ledger(store)
    try:
        settlement = open_settlement(ledger.settings, ledger=ledger)
        try:
            if action == "retry":
                still = [*settlement.retry_dead_letters(),
                         *ledger.scheduler.retry_dead_letters(),
                         *settlement.scheduler.retry_dead_letters()]
                console.print(f"retried: {len(still)} still pending (a timed step retried "
                              "runs at the next tick)" if still else "retried: none pending")
            found = [*letters(settlement), *letters(ledger)]
        finally:
            settlement.close()
    finally:
        ledger.close()
    table = folding_table(f"Dead letters pending: {len(found)}", "follower", "key",
                          "aggregate", "event or step", "attempts", "error")
    for letter in found:
        table.add_row(letter.follower, letter.key, letter.aggregate_id, letter.topic,
                      str(letter.attempts), letter.error)
    console.print(table)


def verify_chain(store: str | None, aggregate_id: str) -> None:
    try:
        key = UUID(aggregate_id)
    except ValueError:
        raise ValidationError("aggregate_id", f"{aggregate_id!r} is not a UUID") from None
    ledger = open_ledger(store)
    try:
        count = sum(1 for _ in ledger.stored_events(key))
        broken = ledger.broken_links(key)
    finally:
        ledger.close()
    if not count:
        raise NotFound("Aggregate", key)  # one line, exit 1
    if broken:
        console.print(f"[red]chain broken[/red] at versions {broken} of {count}")
        raise SystemExit(3)
    console.print(f"chain intact: {count} events")
