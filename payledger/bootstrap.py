"""The composition root: every aggregate's wiring, listed once, and what each
application derives from the list.

Adding an aggregate: write its module in domain/, its handlers module ending with its
`AggregateWiring`, and add that wiring to `WIRINGS` below; nothing else lists it. The
Ledger and the Settlement call `application_wiring(...)` when they are built (tests may
pass their own list); the event catalogue reads `aggregates()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

from eventsourcing.utils import get_topic

from payledger.domain.commands import Command
from payledger.domain.envelope import LedgerAggregate
from payledger.handlers.account import ACCOUNTS
from payledger.handlers.affiliation import AFFILIATIONS
from payledger.handlers.balance import BALANCES
from payledger.handlers.coupon import COUPONS
from payledger.handlers.customer import BUYERS
from payledger.handlers.dead_letter import DEAD_LETTERS
from payledger.handlers.document import DOCUMENTS
from payledger.handlers.idempotency import IDEMPOTENCY_RECORDS
from payledger.handlers.installments import INSTALLMENT_PLANS
from payledger.handlers.invoice import INVOICES
from payledger.handlers.product import PRODUCTS
from payledger.handlers.refund import REFUNDS
from payledger.handlers.subscription import SUBSCRIPTIONS
from payledger.handlers.withdrawal_proof import WITHDRAWAL_PROOFS
from payledger.wiring import (
    AggregateWiring,
    ApplicationWiring,
    AppName,
    Handler,
    OutcomeHook,
    StepCommand,
)

WIRINGS: tuple[AggregateWiring, ...] = (
    ACCOUNTS, INVOICES, REFUNDS, IDEMPOTENCY_RECORDS, DEAD_LETTERS, COUPONS, PRODUCTS,
    AFFILIATIONS, BUYERS, INSTALLMENT_PLANS, SUBSCRIPTIONS, DOCUMENTS, BALANCES,
    WITHDRAWAL_PROOFS,
)
"""Every aggregate of payledger: the one list to edit when adding one."""

K = TypeVar("K")
V = TypeVar("V")


def aggregates(wirings: Sequence[AggregateWiring] = WIRINGS) -> tuple[type[LedgerAggregate], ...]:
    """Every aggregate class, in the list's order (the event catalogue reads these)."""
    return tuple(wiring.kind for wiring in wirings)


def handlers(
    app: AppName, wirings: Sequence[AggregateWiring] = WIRINGS,
) -> dict[type[Command], Handler]:
    """Command class -> handler, for the commands `app` runs."""
    return _merged("command", ((w.handlers, w) for w in _of(app, wirings)))


def timed_steps(
    app: AppName, wirings: Sequence[AggregateWiring] = WIRINGS,
) -> dict[str, Mapping[str, StepCommand]]:
    """Aggregate topic -> step name -> command, for the scheduler of `app`."""
    return _merged("aggregate", (({get_topic(w.kind): w.timed_steps}, w)
                                 for w in _of(app, wirings) if w.timed_steps))


def outcome_hooks(
    app: AppName, wirings: Sequence[AggregateWiring] = WIRINGS,
) -> dict[str, OutcomeHook]:
    """Invoice origin -> the hook that follows such invoices, in `app`."""
    return _merged("invoice origin", ((w.outcome_hooks, w) for w in _of(app, wirings)))


def application_wiring(
    app: AppName, wirings: Sequence[AggregateWiring] = WIRINGS,
) -> ApplicationWiring:
    """Everything `app` runs: its handlers, its scheduler's steps, its outcome hooks."""
    return ApplicationWiring(
        handlers=handlers(app, wirings),
        timed=timed_steps(app, wirings),
        outcome_hooks=outcome_hooks(app, wirings),
        kinds=tuple(wiring.kind for wiring in _of(app, wirings)),
    )


def _of(app: AppName, wirings: Sequence[AggregateWiring]) -> Iterator[AggregateWiring]:
    return (w for w in wirings if w.app in (app, "every"))


def _merged(what: str, parts: Iterable[tuple[Mapping[K, V], AggregateWiring]]) -> dict[K, V]:
    """One table out of the wirings' own; a key two wirings claim is a wiring mistake."""
    table: dict[K, V] = {}
    owner: dict[K, AggregateWiring] = {}
    for part, wiring in parts:
        for key, value in part.items():
            if key in table:
                name = getattr(key, "__name__", repr(key))
                raise ValueError(f"{what} {name} is wired by both {owner[key].kind.__name__} "
                                 f"and {wiring.kind.__name__}")
            table[key], owner[key] = value, wiring
    return table
