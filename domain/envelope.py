"""The envelope every stored event carries, and the base class of every aggregate.

The application opens an `Envelope` for each command (`acting(...)`); every event the
command triggers takes the envelope's fields, so aggregate methods never pass them
around. The chain fields start empty and are sealed when the event is stored (see
`payledger.adapters.chain`), because only the store knows the order of the chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from payledger.domain.errors import InvalidTransition, PayLedgerError
from payledger.domain.time import aware

ENVELOPE_FIELDS = (
    "account", "at", "actor", "correlation_id", "causation_id", "command_id",
    "prev_hash", "hash",
)


@dataclass(frozen=True)
class Envelope:
    """Who did what for which account, at which business instant, and why."""

    account: str
    at: datetime
    actor: str
    correlation_id: UUID
    causation_id: UUID | None
    command_id: UUID

    def fields(self) -> dict[str, Any]:
        return {
            "account": self.account, "at": aware(self.at, "at"), "actor": self.actor,
            "correlation_id": self.correlation_id, "causation_id": self.causation_id,
            "command_id": self.command_id, "prev_hash": "", "hash": "",
        }


_current: ContextVar[Envelope | None] = ContextVar("payledger_envelope", default=None)


@contextmanager
def acting(envelope: Envelope) -> Iterator[Envelope]:
    """Every event triggered inside the block carries `envelope`."""
    token = _current.set(envelope)
    try:
        yield envelope
    finally:
        _current.reset(token)


def current_envelope() -> Envelope:
    envelope = _current.get()
    if envelope is None:
        raise PayLedgerError("an event was triggered outside a command (no envelope open)")
    return envelope


class LedgerAggregate(Aggregate):
    """Base of every payledger aggregate: envelope on each event, account and chain head."""

    KIND = "Aggregate"

    class Event(Aggregate.Event):
        account: str
        at: datetime
        actor: str
        correlation_id: UUID
        causation_id: UUID | None
        command_id: UUID
        prev_hash: str
        hash: str

        def mutate(self, aggregate: Any) -> Any:
            # Bodies read `updated_at` as the instant of the event being applied.
            if aggregate is not None:
                aggregate.updated_at = self.at
            return super().mutate(aggregate)

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.account = self.account
            if self.hash or not hasattr(aggregate, "chain_head"):
                aggregate.chain_head = self.hash  # pending events are sealed on save
            aggregate.updated_at = self.at
            if not hasattr(aggregate, "created_at"):
                aggregate.created_at = self.at

    @classmethod
    def _create(cls, event_class: Any, **kwargs: Any) -> Any:
        kwargs.update(current_envelope().fields())
        return super()._create(event_class, **kwargs)

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        envelope = current_envelope()
        if envelope.account != self.account:
            raise PayLedgerError(f"{self.KIND} {self.id} belongs to another account")
        kwargs.update(envelope.fields())
        super().trigger_event(event_class, **kwargs)

    @property
    def now(self) -> datetime:
        """The business instant of the command being handled."""
        return current_envelope().at

    def refuse(self, command: str, detail: str = "") -> InvalidTransition:
        return InvalidTransition(self.KIND, self.state_name, command, detail)

    @property
    def state_name(self) -> str:
        return str(getattr(self, "status", "unknown"))


# Every aggregate names its own creation event ("Created", "Requested", ...), each with a
# stable topic; without this the library would copy an untitled "Created" into each one.
del LedgerAggregate.Created
