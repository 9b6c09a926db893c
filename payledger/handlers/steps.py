"""Building handlers out of steps, and telling an invoice's issuer of its outcome.

A handler returns the id of the aggregate the command is about; the application saves
every aggregate the handler touched in one transaction. Which command runs which
handler is said once, in each handlers module's `AggregateWiring` (`payledger.wiring`);
nothing here keeps a table.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from uuid import UUID

from payledger.domain.envelope import caused_by, event_id
from payledger.domain.invoice import Invoice
from payledger.settings import Settings
from payledger.wiring import Handler
from payledger.work import Work

Step = Callable[[Work, Any, Any, Settings], None]


def on_one(load: Callable[[Work, Any], Any]) -> Callable[[Step], Handler]:
    """Make a handler that loads the command's aggregate and runs one step on it.

    `load(work, command)` finds the aggregate; the step is `step(work, aggregate,
    command, settings)`; the handler returns the aggregate's id. Each module wraps this
    for its own step shape (`on_invoice`, `on_balance`, ...) and passes the handler
    through `of(step)`, so it keeps the step's name and `__wrapped__` (the command the
    step is annotated with is checked against the wiring).
    """

    def build(step: Step) -> Handler:
        @wraps(step)
        def handler(work: Work, cmd: Any, settings: Settings) -> UUID:
            found = load(work, cmd)
            step(work, found, cmd, settings)
            return UUID(str(found.id))

        return handler

    return build


def of(step: Callable[..., None]) -> Callable[[Handler], Handler]:
    """Name the handler made of `step` after it (`__name__`, `__wrapped__`)."""
    return wraps(step)


def invoice_changed(work: Work, invoice: Invoice) -> None:
    """Tell the plan or subscription that issued `invoice` (by its `origin`), through
    the hooks of the application running the command."""
    hook = work.ledger.outcome_hooks.get(invoice.origin)
    if hook is None:
        return
    if not invoice.pending_events:
        hook(work, invoice)
        return
    cause = event_id(invoice.id, invoice.pending_events[-1].originator_version)
    with caused_by(cause):  # the follow-up names the invoice event it follows
        hook(work, invoice)
