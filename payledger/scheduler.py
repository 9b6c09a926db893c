"""Time-driven transitions: `tick(as_of)` runs every step due by an instant.

Each aggregate class that has time-driven steps says, from its state, what is due and
when (`timers(policy)`); each step is an ordinary command. The scheduler keeps a due
index that follows the event log (recomputing the timers of every aggregate an event
touched), so a tick costs the steps that fall due plus the events since the last
tick, never a scan of what is open. Each step runs as a command dated at its own due
instant, so one tick years ahead records every renewal, expiry or release on the
day it fell due; after each round the index catches up and the next round runs,
until nothing more is due by `as_of`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import (
    ApplicationRecorder,
    Mapper,
    Notification,
    PersistenceError,
)

from payledger.adapters.timer_index import Due, TimerIndex, Timers
from payledger.dead_letters import follower_envelope, letters
from payledger.domain import commands as c
from payledger.domain.dead_letter import DeadLetter
from payledger.domain.envelope import LedgerEvent, acting, event_id
from payledger.domain.errors import Conflict, NotFound, PayLedgerError
from payledger.domain.permissions import Actor
from payledger.domain.time import TimePolicy, aware
from payledger.wiring import StepCommand
from payledger.work import load

SCHEDULER = "payledger-tick"
"""The id of the scheduler's platform principal, on every timed step's events."""


class App(Protocol):
    """What the scheduler needs of an application (the Ledger, the settlement)."""

    @property
    def repository(self) -> Repository[UUID]: ...
    @property
    def recorder(self) -> ApplicationRecorder: ...
    @property
    def mapper(self) -> Mapper[UUID]: ...

    def execute(self, actor: Actor, command: c.Command) -> Any: ...

    def execute_many(self, commands: Iterable[tuple[Actor, c.Command]]) -> Any: ...

    @property
    def name(self) -> str: ...

    def save(self, *objs: Any) -> Any: ...


@dataclass
class TickReport:
    as_of: datetime
    executed: int = 0
    refused: list[tuple[Due, str]] = field(default_factory=list)
    """Steps refused by their aggregate: marked failed, and set aside as dead letters."""
    lost: int = 0
    """Steps that lost every race (`Conflict`) or met a store error each time they were
    run: not marked failed, left for the next tick."""
    retried: int = 0
    """Runs again of a step that lost a race or met a store error, in this tick."""
    skipped: int = 0
    """Steps refused because their timer was gone (another process ran them first)."""
    rounds: int = 0
    followers: dict[str, TickReport] = field(default_factory=dict)


@dataclass(frozen=True)
class Failed:
    """A step marked failed: it runs again only when an operator retries its letter."""

    timer: Due
    error: str


@dataclass(frozen=True)
class SchedulerStatus:
    """What an operator reads of one scheduler: steps due and not run, and every step
    marked failed with why (`payledger scheduler status`)."""

    app: str
    as_of: datetime
    due: int  # steps due by `as_of`, not failed (a count up to Scheduler.PAGE)
    failed: list[Failed]


class Scheduler:
    PAGE = 1000
    RETRIES = 4
    """Rounds a step that lost a race (or met a store error) is run again in one tick."""
    RETRY_BACKOFF = 0.05
    """Seconds before the first run again; each later one waits twice as long."""

    def __init__(self, app: App, index: TimerIndex, policy: TimePolicy,
                 timed: Mapping[str, Mapping[str, StepCommand]],
                 max_rounds: int = 100_000) -> None:
        """`timed`: aggregate topic -> step name -> its command, for the aggregates of
        `app` that have time-driven steps (`payledger.bootstrap.timed_steps`)."""
        self.app = app
        self.timed = timed
        self.index = index
        self.policy = policy
        self.max_rounds = max_rounds

    def catch_up(self) -> int:
        """Bring the due index up to the end of the log; return the events read."""
        read = 0
        position = self.index.position()
        while page := self.app.recorder.select_notifications(
                start=position, limit=self.PAGE, inclusive_of_start=False):
            touched: dict[Any, list[Notification]] = {}
            for notification in page:
                if notification.topic.split(".", 1)[0] in self.timed:
                    touched.setdefault(notification.originator_id, []).append(notification)
            position = page[-1].id
            self.index.record(self._timers(touched), position)
            read += len(page)
        return read

    def _timers(self, touched: dict[Any, list[Notification]]) -> dict[UUID, Timers]:
        changes: dict[UUID, Timers] = {}
        for originator_id, notifications in touched.items():
            aggregate = self._aggregate(originator_id, notifications)
            topic = notifications[0].topic.split(".", 1)[0]
            cause = event_id(aggregate.id, aggregate.version)
            changes[aggregate.id] = Timers(aggregate.account, topic,
                                           aggregate.timers(self.policy), cause,
                                           getattr(aggregate, "last_correlation_id", None))
        return changes

    def _aggregate(self, originator_id: Any, notifications: list[Notification]) -> Any:
        """Built from the page when it holds the whole history, else loaded.

        Either is right: a state later than the page's is indexed again when the page
        that holds the later events comes.
        """
        if notifications[0].originator_version != 1:
            return self.app.repository.get(originator_id)
        aggregate = None
        for notification in notifications:
            # every event of a payledger store is a LedgerEvent (domain/envelope.py)
            domain_event = cast(LedgerEvent, self.app.mapper.to_domain_event(notification))
            aggregate = domain_event.mutate(aggregate)
        return aggregate

    def tick(self, as_of: datetime) -> TickReport:
        """Run every step due by `as_of`, round after round, until nothing is due.

        A step that lost a race or met a store error is run again in the next round,
        after a backoff that doubles each time (`RETRY_BACKOFF`); after `RETRIES` it is
        left for the next tick, never marked failed (its money is not hidden), and
        counted in `TickReport.lost`.
        """
        as_of = aware(as_of, "as_of")
        report = TickReport(as_of)
        tries: dict[tuple[UUID, str], int] = {}
        while True:
            self.catch_up()
            due = [timer for timer in self.index.due(as_of, limit=self.PAGE)
                   if tries.get((timer.aggregate_id, timer.action), 0) <= self.RETRIES]
            if not due:
                if any(n > self.RETRIES for n in tries.values()):
                    self.index.forget_bound()  # what was left is due again next tick
                return report
            report.rounds += 1
            if report.rounds > self.max_rounds:
                raise PayLedgerError(f"tick to {as_of} did not settle in {self.max_rounds} rounds")
            lost_now = self._run(due, report)
            if not lost_now:
                self.index.handled()
                continue
            for timer in lost_now:
                key = (timer.aggregate_id, timer.action)
                tries[key] = tries.get(key, 0) + 1
                report.retried += 1
                report.lost += tries[key] > self.RETRIES
            time.sleep(self.RETRY_BACKOFF * 2 ** (max(tries.values()) - 1))

    def _run(self, due: list[Due], report: TickReport) -> list[Due]:
        """The round's steps in one transaction (each dated at its own due instant);
        when one is refused, nothing of the batch is written and each runs alone, so
        the refused one is marked and set aside (a dead letter) and the others are
        written. Returns the steps that lost a race or met a store error."""
        steps = [self._step(timer) for timer in due]
        try:
            self.app.execute_many(steps)
        except (PayLedgerError, PersistenceError):
            pass
        else:
            report.executed += len(steps)
            return []
        refused: list[tuple[Due, str]] = []
        lost: list[Due] = []
        for timer, (actor, command) in zip(due, steps, strict=True):
            try:
                self.app.execute(actor, command)
            except (Conflict, PersistenceError):
                lost.append(timer)  # a race or the store, not a refusal: run it again
            except PayLedgerError as error:
                if self._still_due(timer):
                    refused.append((timer, str(error)))
                else:
                    report.skipped += 1  # another process ran it, or the aggregate moved on
            else:
                report.executed += 1
        self.index.mark_failed(timer for timer, _ in refused)
        for timer, reason in refused:
            self._set_aside(timer, reason)
        report.refused.extend(refused)
        return lost

    def _still_due(self, timer: Due) -> bool:
        """Whether the refused step's timer is still the aggregate's: when it is not
        (another tick ran it first, or a command moved the aggregate on), the refusal
        is no one's concern; the index catches up from the log."""
        try:
            aggregate: Any = self.app.repository.get(timer.aggregate_id)
        except AggregateNotFoundError:
            return False
        return bool(aggregate.timers(self.policy).get(timer.action) == timer.due_at)

    def status(self, as_of: datetime) -> SchedulerStatus:
        """Steps due by `as_of` not yet run, and every step marked failed with its
        letter's error: a failed mark is never silent."""
        self.catch_up()
        pending = letters(self.app, self.follower)  # type: ignore[arg-type]
        errors = {letter.key: letter.error for letter in pending}
        failed = [Failed(timer, errors.get(_key(timer), "(no pending letter: retried)"))
                  for timer in self.index.failed()]
        due = len(self.index.due(aware(as_of, "as_of"), limit=self.PAGE))
        return SchedulerStatus(self.app.name, as_of, due, failed)

    # -- dead letters --------------------------------------------------------------

    @property
    def follower(self) -> str:
        return f"scheduler:{self.app.name}"

    def _set_aside(self, timer: Due, error: str) -> None:
        """A refused step's dead letter, in the app's store (reopened when a step an
        operator retried is refused again)."""
        key = _key(timer)
        with acting(follower_envelope(SCHEDULER, "scheduler", key, timer.due_at)):
            try:
                letter = load(self.app, DeadLetter, DeadLetter.create_id(self.follower, key))
            except NotFound:
                letter = DeadLetter.record(self.follower, key, timer.aggregate_id, None,
                                           f"{timer.kind}.{timer.action}", error)
            else:
                letter.retry_failed(error)
        self.app.save(letter)

    def retry_dead_letters(self) -> list[DeadLetter]:
        """Clear the failed mark of every pending letter's step, so the next tick runs
        it again, and resolve the letter (a step refused again reopens it)."""
        retried = list(letters(self.app, self.follower))  # type: ignore[arg-type]
        for letter in retried:
            action = letter.key.split(":", 1)[0]
            self.index.unmark(UUID(letter.aggregate_id), action)
            with acting(follower_envelope(SCHEDULER, "scheduler", letter.key,
                                          letter.created_at)):
                letter.resolve()
            self.app.save(letter)
        return retried

    def _step(self, timer: Due) -> tuple[Actor, c.Command]:
        step = self.timed[timer.kind][timer.action]
        actor = Actor.platform("scheduler", id=SCHEDULER, account=timer.account)
        command = step(timer.aggregate_id, timer.due_at)
        # the step names the event that set its timer, and keeps its conversation
        return actor, command.model_copy(update={"causation_id": timer.set_by,
                                                 "correlation_id": timer.correlation_id})


def _key(timer: Due) -> str:
    """A timed step's dead-letter key: the step, its aggregate and its due instant."""
    return f"{timer.action}:{timer.aggregate_id}:{timer.due_at.isoformat()}"
