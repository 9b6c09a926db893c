"""What an aggregate brings to an application, declared once beside its handlers.

Each handlers module ends with one `AggregateWiring`: the aggregate class, the
application whose store holds it, its commands and their handlers, its time-driven
steps and its invoice-outcome hooks. `payledger.bootstrap` lists them all and derives
from that list what each application runs (an `ApplicationWiring`). Nothing here is
filled at import: both are frozen values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal
from uuid import UUID

from payledger.domain.commands import Command
from payledger.domain.envelope import LedgerAggregate
from payledger.domain.invoice import Invoice
from payledger.settings import Settings
from payledger.work import Work

AppName = Literal["ledger", "settlement"]
"""An application that runs commands: the Ledger, or the Settlement (whose store holds
the balances)."""

Handler = Callable[[Work, Any, Settings], UUID]
"""What a command does: load or make aggregates through `work`, call their methods, and
return the id of the aggregate the command is about."""

StepCommand = Callable[[UUID, datetime], Command]
"""The command of a time-driven step, for an aggregate id and the step's due instant."""

OutcomeHook = Callable[[Work, Invoice], None]
"""Told, in the same transaction, when an invoice of its origin is paid, declined,
expired or refunded, so the plan or the subscription that issued it follows."""


def _frozen(mapping: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class AggregateWiring:
    """One aggregate, as the applications need it.

    `app`: the application whose store holds the aggregate and which runs its commands
    and steps ("every": each application writes it, as with idempotency records).
    `timed_steps`: step name (an action of the aggregate's `timers(policy)`) -> the
    command the scheduler runs when it falls due. `outcome_hooks`: invoice origin (the
    `origin` an invoice of this aggregate's making carries) -> the hook that follows it.
    """

    kind: type[LedgerAggregate]
    app: AppName | Literal["every"]
    handlers: Mapping[type[Command], Handler] = field(default_factory=dict)
    timed_steps: Mapping[str, StepCommand] = field(default_factory=dict)
    outcome_hooks: Mapping[str, OutcomeHook] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("handlers", "timed_steps", "outcome_hooks"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))


@dataclass(frozen=True)
class ApplicationWiring:
    """What one application runs, derived from the aggregates it holds.

    `timed`: aggregate topic -> step name -> command (what its scheduler follows).
    `kinds`: the aggregates its store holds.
    """

    handlers: Mapping[type[Command], Handler] = field(default_factory=dict)
    timed: Mapping[str, Mapping[str, StepCommand]] = field(default_factory=dict)
    outcome_hooks: Mapping[str, OutcomeHook] = field(default_factory=dict)
    kinds: tuple[type[LedgerAggregate], ...] = ()

    def __post_init__(self) -> None:
        for name in ("handlers", "timed", "outcome_hooks"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
