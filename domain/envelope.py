"""The envelope every stored event carries, and the base class of every aggregate.

The application opens an `Envelope` for each command (`acting(...)`); every event the
command triggers takes the envelope's fields (the event class's field defaults read the
open envelope), so aggregate methods never pass them around. An event's `prev_hash` is
its aggregate's chain head when the aggregate had nothing pending; its own `hash` (and
the link of a second pending event) is filled in when it is stored, by the mapper (see
`payledger.adapters.chain`), because only the store knows the order of the chain.

Aggregates declare their events as explicit nested classes with stable topics::

    class Invoice(LedgerAggregate):
        TOPIC = "payledger:Invoice"

        class Created(LedgerCreated):
            TOPIC = "payledger:Invoice.Created"
            ...

        @event(Created)
        def __init__(self, ...) -> None: ...

        class Paid(LedgerEvent):  # the aggregate's `Event` at runtime; mypy wants the class
            TOPIC = "payledger:Invoice.Paid"
            amount: int

        @event(Paid)
        def _paid(self, amount: int) -> None: ...

`LedgerAggregate` builds on the library's `BaseAggregate` (with uuid4 ids, as its
`Aggregate` does) rather than on `Aggregate`, whose ready-made `Created` event the
library would copy, without a topic, into every aggregate that names its creation event
otherwise ("Requested", "Opened", ...).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar, Self
from uuid import UUID, uuid4, uuid5

from eventsourcing.domain import AggregateCreated, AggregateEvent, BaseAggregate

from payledger.domain.errors import InvalidTransition, PayLedgerError, ValidationError
from payledger.domain.permissions import Permission
from payledger.domain.time import aware

ENVELOPE_FIELDS = (
    "account", "at", "actor", "actor_kind", "actor_role", "correlation_id", "causation_id",
    "command_id", "prev_hash", "hash",
)
EVENT_NAMESPACE = UUID("9b2f4c1e-6d3a-4e8b-a5f7-0c1d2e3f4a5b")
SCOPE_NAMESPACE = UUID("3e8d5a7c-1f2b-4c6d-9e0a-7b4c2d1e5f60")
LEGACY_KIND = "legacy"
"""The principal kind of an event stored before kinds were recorded (class_version 1)."""


@dataclass(frozen=True)
class Envelope:
    """Who did what for which account, at which business instant, and why.

    `actor_kind` is the principal's kind (`account` or `platform`), `actor_role` its
    platform role or account profile (`payledger.domain.permissions.Actor`)."""

    account: str
    at: datetime
    actor: str
    correlation_id: UUID
    causation_id: UUID | None
    command_id: UUID
    actor_kind: str
    actor_role: str
    at_given: bool = False
    """A host gave `at`: an aggregate whose last event is later refuses the command
    (business time never runs backwards). Otherwise (the clock's instant, a timed
    step's due instant, a followed event's) each event is raised to its aggregate's
    last instant where it would fall before it."""

    def __post_init__(self) -> None:
        aware(self.at, "at")  # a naive instant is refused here, before any event takes it


_current: ContextVar[Envelope | None] = ContextVar("payledger_envelope", default=None)


@contextmanager
def acting(envelope: Envelope) -> Iterator[Envelope]:
    """Every event triggered inside the block carries `envelope`."""
    token = _current.set(envelope)
    try:
        yield envelope
    finally:
        _current.reset(token)


def event_id(originator_id: UUID, version: int) -> UUID:
    """An event's id (DESIGN.md §3): derived from its aggregate and version, never
    stored anew, the same on every replay, unique across both logs."""
    return uuid5(EVENT_NAMESPACE, f"{originator_id}/{version}")


@contextmanager
def caused_by(cause: UUID) -> Iterator[Envelope]:
    """Every event triggered inside the block names `cause` (an event id) as its
    causation: a plan's or subscription's follow-up names the invoice event it follows."""
    with acting(replace(current_envelope(), causation_id=cause)) as envelope:
        yield envelope


def current_envelope() -> Envelope:
    envelope = _current.get()
    if envelope is None:
        raise PayLedgerError("an event was triggered outside a command (no envelope open)")
    return envelope


def _from_envelope(name: str) -> Any:
    """A keyword field whose default is the open envelope's `name`."""
    return field(default_factory=lambda: getattr(current_envelope(), name), kw_only=True)


class LedgerEvent(AggregateEvent):
    """Every payledger event: the library's aggregate event plus the envelope.

    Version 2 records the principal's kind and role; a version-1 event (stored
    before) reads as kind `legacy` with no role, through the library's upcasting."""

    class_version = 2

    account: str = _from_envelope("account")
    at: datetime = _from_envelope("at")
    actor: str = _from_envelope("actor")
    actor_kind: str = _from_envelope("actor_kind")
    actor_role: str = _from_envelope("actor_role")
    correlation_id: UUID = _from_envelope("correlation_id")
    causation_id: UUID | None = _from_envelope("causation_id")
    command_id: UUID = _from_envelope("command_id")
    prev_hash: str = field(default="", kw_only=True)
    hash: str = field(default="", kw_only=True)

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["actor_kind"] = LEGACY_KIND
        state["actor_role"] = ""

    def mutate(self, aggregate: Any) -> Any:
        # Bodies read `updated_at` as the instant of the event being applied.
        if aggregate is not None:
            aggregate.updated_at = self.at
        return super().mutate(aggregate)

    @property
    def id(self) -> UUID:
        """This event's id (`event_id`)."""
        return event_id(self.originator_id, self.originator_version)

    def apply(self, aggregate: Any) -> None:
        super().apply(aggregate)
        aggregate.account = self.account
        aggregate.last_correlation_id = self.correlation_id
        if self.hash or not hasattr(aggregate, "chain_head"):
            aggregate.chain_head = self.hash  # a pending event's hash is known once stored
        aggregate.updated_at = self.at
        if not hasattr(aggregate, "created_at"):
            aggregate.created_at = self.at


_IMMUTABLE: frozenset[type] = frozenset({
    str, int, bool, float, type(None), UUID, datetime, date, timedelta, Decimal,
})


def _copied(value: Any, memo: dict[int, Any]) -> Any:
    kind = type(value)
    if kind in _IMMUTABLE or isinstance(value, Enum):
        return value
    if kind is dict:
        return {key: item if type(item) in _IMMUTABLE else _copied(item, memo)
                for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _IMMUTABLE else _copied(item, memo) for item in value]
    return copy.deepcopy(value, memo)


class LedgerCreated(LedgerEvent, AggregateCreated):
    """Every aggregate's creation event ("Created", "Requested", "Opened", ...)."""


class LedgerAggregate(BaseAggregate[UUID]):
    """Base of every payledger aggregate: envelope on each event, account and chain head."""

    KIND = "Aggregate"
    READ: ClassVar[Permission] = Permission.SEARCH_PURCHASES
    """What an account principal needs to read one (`CommandApplication.get`)."""
    account: str
    chain_head: str
    created_at: datetime
    updated_at: datetime

    Event = LedgerEvent
    # No `Created` here: the library would copy it into every aggregate (see above).

    @staticmethod
    def create_id(*_: Any, **__: Any) -> UUID:
        return uuid4()

    @classmethod
    def scoped_id(cls, account: str, reference: UUID) -> UUID:
        """The stored id of the aggregate a caller names by its own `reference`: derived
        from the kind and the account, so no account can name, make or probe another's
        aggregate, whatever reference it chooses."""
        return uuid5(SCOPE_NAMESPACE, f"{cls.KIND}\n{account}\n{reference}")

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        """Refuses an event for another account's aggregate; links the first pending
        event to the stored chain (the mapper links the ones after it)."""
        envelope = current_envelope()
        if envelope.account != self.account:
            raise PayLedgerError(f"{self.KIND} {self.id} belongs to another account")
        if not self.pending_events:
            kwargs.setdefault("prev_hash", self.chain_head)
        kwargs.setdefault("at", self.now)
        super().trigger_event(event_class, **kwargs)

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        """A copy for the library's aggregate cache, which copies a cached aggregate for
        each use. State is JSON-shaped (dicts and lists of values), so only the
        containers are copied and the values (str, int, UUID, datetime, enums, frozen
        value objects) are shared: several times faster than the generic deep copy."""
        clone = self.__class__.__new__(self.__class__)
        clone.__dict__.update(_copied(vars(self), memo))
        return clone

    @property
    def now(self) -> datetime:
        """The business instant of the command being handled, on this aggregate: never
        before its last event's. A host's `at` that is earlier is refused, naming
        `at`; any other instant (the clock's, a timed step's, a followed event's) is
        raised to the last event's, so every aggregate's events are in business-time
        order."""
        envelope = current_envelope()
        last: datetime | None = getattr(self, "updated_at", None)
        if last is None or envelope.at >= last:
            return envelope.at
        if envelope.at_given:
            raise ValidationError("at", f"is before {last.isoformat()}, when {self.KIND} "
                                        f"{self.id} last changed: business time never runs "
                                        "backwards")
        return last

    def refuse(self, command: str, detail: str = "") -> InvalidTransition:
        return InvalidTransition(self.KIND, self.state_name, command, detail)

    def _require(self, command: str, *states: str) -> None:
        """Refuses `command` unless the aggregate's status is one of `states`."""
        if self.state_name not in states:
            raise self.refuse(command, f"allowed only when {' or '.join(states)}")

    @property
    def state_name(self) -> str:
        return str(getattr(self, "status", "unknown"))
