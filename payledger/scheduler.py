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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast
from uuid import UUID

from eventsourcing.application import Repository
from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification

from payledger.adapters.timer_index import Due, TimerIndex, Timers
from payledger.domain import commands as c
from payledger.domain.envelope import LedgerEvent
from payledger.domain.errors import PayLedgerError
from payledger.domain.permissions import Actor
from payledger.domain.time import TimePolicy, aware
from payledger.wiring import StepCommand

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


@dataclass
class TickReport:
    as_of: datetime
    executed: int = 0
    refused: list[tuple[Due, str]] = field(default_factory=list)
    rounds: int = 0
    followers: dict[str, TickReport] = field(default_factory=dict)


class Scheduler:
    PAGE = 1000

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
            changes[aggregate.id] = Timers(aggregate.account, topic,
                                           aggregate.timers(self.policy))
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
        as_of = aware(as_of, "as_of")
        report = TickReport(as_of)
        while True:
            self.catch_up()
            due = self.index.due(as_of, limit=self.PAGE)
            if not due:
                return report
            report.rounds += 1
            if report.rounds > self.max_rounds:
                raise PayLedgerError(f"tick to {as_of} did not settle in {self.max_rounds} rounds")
            self._run(due, report)
            self.index.handled()

    def _run(self, due: list[Due], report: TickReport) -> None:
        """The round's steps in one transaction (each dated at its own due instant);
        when one is refused, nothing of the batch is written and each runs alone, so
        the refused one is marked and the others are written."""
        steps = [self._step(timer) for timer in due]
        try:
            self.app.execute_many(steps)
        except PayLedgerError:
            pass
        else:
            report.executed += len(steps)
            return
        refused: list[Due] = []
        for timer, (actor, command) in zip(due, steps, strict=True):
            try:
                self.app.execute(actor, command)
            except PayLedgerError as error:
                refused.append(timer)
                report.refused.append((timer, str(error)))
            else:
                report.executed += 1
        self.index.mark_failed(refused)

    def _step(self, timer: Due) -> tuple[Actor, c.Command]:
        step = self.timed[timer.kind][timer.action]
        actor = Actor.platform("scheduler", id=SCHEDULER, account=timer.account)
        return actor, step(timer.aggregate_id, timer.due_at)
