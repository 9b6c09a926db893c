"""Concurrent writers of one invoice: nothing lost, nothing half-written (DESIGN.md §4).

Two OS processes (the "spawn" start method, each with a Ledger of its own on the same
store URL) request many small refunds of the same paid invoice at once; then a
deterministic race inside one process shows the retry and the `Conflict` it ends in.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
import traceback
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from payledger.domain import commands as c
from payledger.domain.errors import Conflict, NotFound
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.domain.refund import Refund
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.settings import Settings
from tests import factories as f
from tests.principals import GATEWAY

PRICE = 100_000
WORKERS = 2
COMMANDS = 60  # per worker
DEADLINE = 45.0  # seconds for the whole race, start-up included
SETUP_EVENTS = 3  # created, charge requested, paid


class CountingLedger(Ledger):
    """A Ledger that counts the saves it lost to a concurrent writer."""

    # The library names a subclass after itself unless told otherwise, and PostgreSQL
    # names its tables after the application: without this line the workers would
    # write "countingledger_events", a store of their own.
    name = Ledger.name
    lost = 0

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        try:
            return super().save(*objs, **kwargs)
        except IntegrityError:
            self.lost += 1
            raise


def refund_worker(
    url: str, retries: int, invoice_id: UUID, at: datetime, start: Any, results: Any
) -> None:
    """Request COMMANDS refunds of 1 cent each; report what each command ended in."""
    report: dict[str, Any] = {"ok": 0, "conflicts": 0, "events": 0, "lost": 0, "others": []}
    try:
        checkout = Actor.platform("checkout", id="checkout", account="acct-1")
        ledger = CountingLedger(Settings(store_url=url, conflict_retries=retries),
                                clock=SimulatedClock(at))
        try:
            start.wait()
            for _ in range(COMMANDS):
                try:
                    receipt = ledger.execute(checkout, f.request_refund(invoice_id, 1))
                except Conflict:
                    report["conflicts"] += 1
                except Exception as error:  # every other outcome is a failure of the test
                    report["others"].append(repr(error))
                else:
                    report["ok"] += 1
                    report["events"] += receipt.events
            report["lost"] = ledger.lost
        finally:
            ledger.close()
    except BaseException:
        start.abort()  # do not leave the other worker waiting for this one
        report["others"].append(traceback.format_exc())
    results.put(report)


def open_worker(url: str, times: int, start: Any, results: Any) -> None:
    """Open (and close) a Ledger on `url` at the same moment as the other workers."""
    report: dict[str, Any] = {"opened": 0, "others": []}
    for _ in range(times):
        try:
            start.wait()
            Ledger(Settings(store_url=url)).close()
            report["opened"] += 1
        except BaseException:
            start.abort()
            report["others"].append(traceback.format_exc())
            break
    results.put(report)


def run_workers(target: Any, args: tuple[Any, ...], count: int = WORKERS) -> list[dict[str, Any]]:
    """Run `target(*args, start, results)` in `count` spawned processes; their reports."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(count, timeout=DEADLINE)
    results = ctx.Queue()
    workers = [ctx.Process(target=target, args=(*args, start, results), daemon=True)
               for _ in range(count)]
    for worker in workers:
        worker.start()
    reports: list[dict[str, Any]] = []
    deadline = time.monotonic() + DEADLINE
    try:
        while len(reports) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"workers did not finish in {DEADLINE} s: {reports}")
            try:
                reports.append(results.get(timeout=min(left, 1.0)))
            except queue.Empty:
                if any(w.exitcode not in (None, 0) for w in workers) and results.empty():
                    pytest.fail(f"a worker died: exit codes {[w.exitcode for w in workers]}")
        for worker in workers:
            worker.join(timeout=max(deadline - time.monotonic(), 1.0))
            assert worker.exitcode == 0
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
                worker.join(timeout=5)
    return reports


def paid_invoice(ledger: Ledger, checkout: Actor) -> UUID:
    invoice_id = ledger.execute(checkout, f.create_invoice(price=PRICE)).aggregate_id
    ledger.execute(checkout, c.RequestCharge(invoice_id=invoice_id))
    ledger.execute(GATEWAY, c.ApproveCard(invoice_id=invoice_id, authorization_code="AUTH-1"))
    return invoice_id


def assert_intact(ledger: Ledger, aggregate_id: UUID) -> int:
    """Versions 1..n with no gap and an unbroken hash chain; returns n."""
    versions = [s.originator_version for s in ledger.stored_events(aggregate_id)]
    assert versions == list(range(1, len(versions) + 1))
    assert ledger.broken_links(aggregate_id) == []
    return len(versions)


def notifications(ledger: Ledger) -> list[Any]:
    return list(ledger.recorder.select_notifications(start=None, limit=100_000))


# -- two processes ----------------------------------------------------------------------


@pytest.mark.parametrize("retries", [10, 0], ids=["retrying", "no-retries"])
def test_two_processes_write_one_invoice(
    ledger: Ledger, store_url: str, checkout: Actor, clock: SimulatedClock, retries: int
) -> None:
    invoice_id = paid_invoice(ledger, checkout)

    reports = run_workers(refund_worker, (store_url, retries, invoice_id, clock.now()))

    assert [r["others"] for r in reports] == [[]] * WORKERS  # only success or Conflict
    for report in reports:
        assert report["ok"] + report["conflicts"] == COMMANDS
    ok = sum(r["ok"] for r in reports)
    conflicts = sum(r["conflicts"] for r in reports)
    lost = sum(r["lost"] for r in reports)
    assert lost > 0, "the two workers never raced: the test proved nothing"
    # A Conflict is raised only after retries + 1 lost saves; every other loss was retried.
    assert lost >= conflicts * (retries + 1)
    if retries == 0:
        assert lost == conflicts
    print(f"\n{store_url.split(':')[0]} retries={retries}: ok={ok} conflict={conflicts} "
          f"lost saves={lost}")

    # Nothing lost and nothing half-written: one invoice event and one refund per success.
    assert sum(r["events"] for r in reports) == 2 * ok
    assert assert_intact(ledger, invoice_id) == SETUP_EVENTS + ok
    invoice = ledger.load(Invoice, invoice_id)
    assert len(invoice.reserved) == ok
    assert invoice.refundable == PRICE - ok
    log = notifications(ledger)
    assert len(log) == SETUP_EVENTS + 2 * ok
    assert [n.id for n in log] == sorted(n.id for n in log)
    refunds = {n.originator_id for n in log if n.topic == "payledger:Refund.Requested"}
    assert refunds == {UUID(key) for key in invoice.reserved}
    for refund_id in refunds:
        assert ledger.load(Refund, refund_id).status == "requested"


def test_processes_open_one_new_store_at_once(store_url: str) -> None:
    """Hosts start several workers at once; each creates the store's tables if missing.

    On PostgreSQL this failed with "tuple concurrently updated" (the library's CREATE OR
    REPLACE FUNCTION) until `creating_tables` serialized it with an advisory lock.
    """
    reports = run_workers(open_worker, (store_url, 5), count=4)
    assert [r["others"] for r in reports] == [[]] * 4
    assert [r["opened"] for r in reports] == [5] * 4


# -- one process, a deterministic race --------------------------------------------------


def lose_once(monkeypatch: pytest.MonkeyPatch, loser: Ledger, rival: Ledger,
              checkout: Actor, invoice_id: UUID, rival_refund: UUID) -> list[int]:
    """Make `loser`'s next save lose the race: the rival writes the invoice first."""
    saves: list[int] = []
    real_save = loser.save

    def save(*objs: Any, **kwargs: Any) -> Any:
        saves.append(len(saves) + 1)
        if len(saves) == 1:
            rival.execute(checkout, f.request_refund(invoice_id, 500, refund_id=rival_refund))
        return real_save(*objs, **kwargs)

    monkeypatch.setattr(loser, "save", save)
    return saves


def test_lost_race_is_retried(
    ledger: Ledger, store_url: str, checkout: Actor, clock: SimulatedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    invoice_id = paid_invoice(ledger, checkout)
    rival = Ledger(Settings(store_url=store_url), clock=clock)
    try:
        rival_refund, our_refund = uuid4(), uuid4()
        saves = lose_once(monkeypatch, ledger, rival, checkout, invoice_id, rival_refund)

        receipt = ledger.execute(checkout, f.request_refund(invoice_id, 300,
                                                            refund_id=our_refund))
    finally:
        rival.close()

    assert saves == [1, 2]  # lost once, then saved on the retry
    ours = Refund.scoped_id(checkout.account, our_refund)  # stored under the account's scope
    rivals = Refund.scoped_id(checkout.account, rival_refund)
    assert (receipt.aggregate_id, receipt.events, receipt.repeated) == (ours, 2, False)
    invoice = ledger.load(Invoice, invoice_id)
    assert invoice.reserved == {str(rivals): 500, str(ours): 300}
    assert invoice.refundable == PRICE - 800
    assert assert_intact(ledger, invoice_id) == SETUP_EVENTS + 2
    assert assert_intact(ledger, ours) == 1
    assert len(notifications(ledger)) == SETUP_EVENTS + 4


def test_lost_race_without_retries_is_a_conflict(
    store_url: str, checkout: Actor, clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    loser = Ledger(Settings(store_url=store_url, conflict_retries=0), clock=clock)
    rival = Ledger(Settings(store_url=store_url), clock=clock)
    try:
        invoice_id = paid_invoice(loser, checkout)
        rival_refund, our_refund = uuid4(), uuid4()
        saves = lose_once(monkeypatch, loser, rival, checkout, invoice_id, rival_refund)

        with pytest.raises(Conflict, match="RequestRefund"):
            loser.execute(checkout, f.request_refund(invoice_id, 300, refund_id=our_refund))

        assert saves == [1]
        with pytest.raises(NotFound):
            loser.load(Refund, Refund.scoped_id(checkout.account, our_refund))
        invoice = loser.load(Invoice, invoice_id)
        assert invoice.reserved == {str(Refund.scoped_id(checkout.account, rival_refund)): 500}
        assert assert_intact(loser, invoice_id) == SETUP_EVENTS + 1
        assert len(notifications(loser)) == SETUP_EVENTS + 2  # the rival's two events only
    finally:
        rival.close()
        loser.close()
