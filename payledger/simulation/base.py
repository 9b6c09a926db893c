"""The simulation's loop: a queue of steps on a simulated clock, ticking as it goes."""

from __future__ import annotations

import heapq
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from payledger.domain import commands as c
from payledger.domain.errors import PayLedgerError
from payledger.domain.permissions import Actor
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.scheduler import TickReport

ACCOUNT = "producer-ana"
OWNER_USER = "ana@producer-ana.example"
PRODUCTS = (("course-excel", 19_700), ("ebook-finance", 4_790), ("mentorship", 99_700),
            ("course-python", 29_700), ("template-pack", 2_990))
FIRST_NAMES = ("Ana", "Bruno", "Carla", "Diego", "Elisa", "Felipe", "Gabi", "Hugo", "Iara")
LAST_NAMES = ("Souza", "Lima", "Costa", "Pereira", "Alves", "Rocha", "Dias", "Nunes")
DECLINES = ("insufficient_funds", "do_not_honor", "expired_card", "suspected_fraud")
DISPUTES = ("fraudulent", "product_not_received", "unrecognized")
START = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)  # midnight in Sao Paulo
TICK_EVERY = timedelta(minutes=5)
Queue = list[tuple[datetime, int, Callable[[], object]]]
"""How often the host's scheduler ticks: steps fall due at most this late."""


@dataclass
class Mix:
    """How the shop's buyers behave; the defaults follow a typical infoproduct shop."""

    checkouts_per_day: int = 50
    card: float = 0.55
    pix: float = 0.30
    abandon: float = 0.12
    card_decline: float = 0.25
    pix_paid: float = 0.80
    boleto_paid: float = 0.55
    late_boleto: float = 0.05
    discount: float = 0.10
    refund: float = 0.07
    dispute: float = 0.015
    void: float = 0.01
    uncollectible: float = 0.10
    plans_per_day: int = 6
    subscriptions_per_day: int = 5
    doomed_card: float = 0.06
    fiscal: float = 0.3  # paid sales whose nota fiscal support asks for
    receipt: float = 0.2  # paid sales whose receipt is asked for again
    proof: float = 0.6  # paid withdrawals whose proof the party asks for


@dataclass
class Report:
    """What a simulation wrote, for the demo's summary and for tests."""

    days: int
    seed: int
    commands: int = 0
    timed_steps: int = 0
    tick_seconds: float = 0.0
    """Time spent in ticks (the index catching up, the steps they ran)."""
    refused: Counter[str] = field(default_factory=Counter)
    by_principal: Counter[str] = field(default_factory=Counter)
    """Commands sent per principal, as `kind:role` (`platform:gateway`, `account:owner`)."""
    ids: dict[str, list[UUID]] = field(default_factory=dict)

    def made(self, kind: str, aggregate_id: UUID) -> None:
        self.ids.setdefault(kind, []).append(aggregate_id)


_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                  r"|\d{4}-\d\d-\d\dT[0-9:.]+(?:[+-]\d\d:\d\d|Z)?")


def refusal(command: c.Command, error: PayLedgerError) -> str:
    """How a refusal is counted: the command, the error and its reason, with ids and
    instants left out so the same reason is one row."""
    reason = _IDS.sub("…", str(error).splitlines()[0])
    return f"{type(command).__name__}: {type(error).__name__}: {reason}"


class SimulationBase:
    """The loop, the clock and the dice; the story's parts are mixins (see __init__)."""

    def __init__(self, ledger: Ledger, clock: SimulatedClock, *, seed: int = 1,
                 days: int = 30, mix: Mix | None = None) -> None:
        self.ledger = ledger
        self.clock = clock
        # Same seed and same store, same story; a story that continues a store differs.
        self.rng = random.Random(f"{seed}:{ledger.recorder.max_notification_id() or 0}")
        self.mix = mix or Mix()
        self.end = clock.now() + timedelta(days=days)
        self.report = Report(days=days, seed=seed)
        self.checkout = Actor.platform("checkout", id="checkout", account=ACCOUNT)
        self.gateway = Actor.platform("gateway", id="gateway", account=ACCOUNT)
        self.operator = Actor.platform("operator", id="ops-duda", account=ACCOUNT)
        self.owner = Actor.preset("owner", id=OWNER_USER, account=ACCOUNT)
        self.support = Actor.preset("support", id="bia@producer-ana.example", account=ACCOUNT)
        self.financial = Actor.preset("financial", id="caio@producer-ana.example",
                                      account=ACCOUNT)
        self._queue: Queue = []
        self._seq = 0
        self._gathered: list[tuple[Actor, c.Command]] | None = None  # see `at_once`

    # -- the loop -------------------------------------------------------------------

    def run(self, on_day: Callable[[int], None] | None = None) -> Report:
        start = self.clock.now()
        self._ticked = start - TICK_EVERY
        self.schedule(start)
        day_done = 0
        while self._queue and self._queue[0][0] <= self.end:
            at, _, step = heapq.heappop(self._queue)
            self.clock.set(at)
            if at - self._ticked >= TICK_EVERY:
                # the Ledger's own steps; the settlement is ticked each morning (payouts)
                self.tick(self.ledger.scheduler.tick, at)
                self._ticked = at
            while on_day and (at - start) >= timedelta(days=day_done + 1):
                day_done += 1
                on_day(day_done)
            step()
            self.after_step()
        if on_day:
            on_day(self.report.days)
        return self.report

    def tick(self, tick: Callable[[datetime], TickReport], at: datetime) -> None:
        began = time.perf_counter()
        self.report.timed_steps += tick(at).executed
        self.report.tick_seconds += time.perf_counter() - began

    def schedule(self, start: datetime) -> None:
        """Queue the story's first steps; each part of the story extends this."""

    def after_step(self) -> None:
        """React to what the last step and tick wrote; each part of the story extends this."""

    def at(self, when: datetime, step: Callable[[], object]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (when, self._seq, step))

    def later(self, delta: timedelta, step: Callable[[], object]) -> None:
        self.at(self.clock.now() + delta, step)

    def send(self, actor: Actor, command: c.Command) -> bool:
        """Execute; a refusal is part of the story (counted), not a crash. Inside
        `at_once`, the command joins the step's batch and counts as done."""
        self.counted(actor)
        if self._gathered is not None:
            self._gathered.append((actor, command))
            return True
        try:
            self.ledger.execute(actor, command)
        except PayLedgerError as error:
            self.report.refused[refusal(command, error)] += 1
            return False
        return True

    def counted(self, actor: Actor) -> None:
        self.report.commands += 1
        self.report.by_principal[f"{actor.kind.value}:{actor.role}"] += 1

    def at_once(self, step: Callable[[], None]) -> None:
        """Run a step whose commands happen at one instant, reading nothing back, with
        its commands in one transaction (`execute_many`). When one is refused, nothing
        of them is written: the dice, the queue and the report go back to where they
        were and the step runs again sending each alone, so the story is the one it
        would have been."""
        saved = (self.rng.getstate(), list(self._queue), self._seq, self.report.commands,
                 Counter(self.report.refused), Counter(self.report.by_principal),
                 {kind: len(ids) for kind, ids in self.report.ids.items()})
        self._gathered = []
        try:
            step()
            gathered = self._gathered
        finally:
            self._gathered = None
        if not gathered:
            return
        try:
            self.ledger.execute_many(gathered)
        except PayLedgerError:
            self._restore(*saved)
            step()

    def _restore(self, rng: tuple[Any, ...], queue: Queue, seq: int, commands: int,
                 refused: Counter[str], by_principal: Counter[str],
                 ids: dict[str, int]) -> None:
        self.rng.setstate(rng)
        self._queue, self._seq = queue, seq
        self.report.commands, self.report.refused = commands, refused
        self.report.by_principal = by_principal
        for kind in list(self.report.ids):
            del self.report.ids[kind][ids.get(kind, 0):]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def uuid(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)

    def minutes(self, low: float, high: float) -> timedelta:
        return timedelta(minutes=self.rng.uniform(low, high))
