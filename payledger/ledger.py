"""The Ledger: the application every host embeds.

`execute(actor, command)` authorizes the command, opens its envelope, runs its handler,
and saves every aggregate the handler touched, with the idempotency record when the
command carries a key, in one transaction. A concurrent write to the same aggregate is
retried a bounded number of times, then raised as `Conflict`. That machinery is shared
with the Settlement (`payledger.commanding`); balances live in the Settlement's store,
so the Ledger refuses their commands.

What it runs (handlers, time-driven steps, invoice-outcome hooks) is derived from the
aggregates' wirings by `payledger.bootstrap` when it is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from payledger import bootstrap
from payledger.adapters.timer_index import TimerIndex
from payledger.commanding import CommandApplication, Receipt
from payledger.domain.time import Clock, TimePolicy
from payledger.scheduler import Scheduler, TickReport
from payledger.settings import Settings
from payledger.wiring import AggregateWiring

__all__ = ["Ledger", "Receipt"]


class Ticking(Protocol):
    def tick(self, as_of: datetime) -> TickReport: ...


class Ledger(CommandApplication):
    name = "payledger"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # The library would rename a subclass's tables after the subclass (PostgreSQL
        # names them per application); a subclass of the Ledger is the same store.
        super().__init_subclass__(**kwargs)
        cls.name = Ledger.name

    def __init__(self, settings: Settings | None = None, *, clock: Clock | None = None,
                 wirings: Sequence[AggregateWiring] = bootstrap.WIRINGS) -> None:
        """`wirings`: the aggregates whose commands it runs (tests add their own)."""
        settings = settings or Settings.from_env()
        self._scheduler: Scheduler | None = None
        self.followers: dict[str, Ticking] = {}
        super().__init__(settings, settings.store, bootstrap.application_wiring("ledger", wirings),
                         clock=clock)

    @property
    def snapshot_interval(self) -> int:
        return self.settings.ledger_snapshot_interval

    # -- time ----------------------------------------------------------------------

    @property
    def scheduler(self) -> Scheduler:
        if self._scheduler is None:
            policy = TimePolicy(abandon_window=self.settings.abandon_window)
            index = TimerIndex(self.settings.store, self.name)
            self._scheduler = Scheduler(self, index, policy, self.wiring.timed)
        return self._scheduler

    def tick(self, as_of: datetime) -> TickReport:
        """Run every time-driven step due by `as_of`, until nothing more is due; then
        each follower's (a settlement opened on this Ledger: releases, reserves), which
        follow from what this tick wrote. Their reports are in `report.followers`."""
        report = self.scheduler.tick(as_of)
        for name, follower in self.followers.items():
            report.followers[name] = follower.tick(as_of)
        return report

    def close(self) -> None:
        if self._scheduler is not None:
            self._scheduler.index.close()
        super().close()
