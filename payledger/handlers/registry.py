"""What each command does: load or make aggregates, call their methods.

A handler returns the id of the aggregate the command is about; the ledger saves
every aggregate the handler touched in one transaction. One module per aggregate
registers its handlers here when imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from payledger.domain.commands import Command
from payledger.domain.invoice import Invoice
from payledger.settings import Settings
from payledger.work import Work

Handler = Callable[[Work, Any, Settings], UUID]
HANDLERS: dict[type[Command], Handler] = {}

OutcomeHook = Callable[[Work, Invoice], None]
INVOICE_OUTCOME_HOOKS: dict[str, OutcomeHook] = {}
"""Per invoice `origin` ("installment", "subscription"): told, in the same transaction,
when such an invoice is paid, declined, expired or refunded, so the plan or the
subscription that issued it follows."""


def handles(kind: type[Command]) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[kind] = handler
        return handler

    return register


def on_one(
    kind: type[Command],
    load: Callable[[Work, Any], Any],
    *,
    registry: dict[type[Command], Handler] = HANDLERS,
) -> Callable[[Callable[[Work, Any, Any, Settings], None]], Handler]:
    """Register a handler that loads the command's aggregate and runs one step on it.

    `load(work, command)` finds the aggregate; the step is `step(work, aggregate,
    command, settings)`; the handler returns the aggregate's id. Each module wraps this
    for its own step shape (`on_invoice`, `on_balance`, ...).
    """

    def register(step: Callable[[Work, Any, Any, Settings], None]) -> Handler:
        def handler(work: Work, cmd: Any, settings: Settings) -> UUID:
            found = load(work, cmd)
            step(work, found, cmd, settings)
            return UUID(str(found.id))

        registry[kind] = handler
        return handler

    return register


def invoice_changed(work: Work, invoice: Invoice) -> None:
    hook = INVOICE_OUTCOME_HOOKS.get(invoice.origin)
    if hook is not None:
        hook(work, invoice)
