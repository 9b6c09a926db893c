"""One attempt at a command: the aggregates it loaded or made, saved together."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Repository

from payledger.domain.account import Account
from payledger.domain.envelope import LedgerAggregate
from payledger.domain.errors import NotFound
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.settings import Settings

A = TypeVar("A", bound=LedgerAggregate)


class Ledger(Protocol):
    """What a unit of work and its handlers need of the application running the
    command (the Ledger or the Settlement; `payledger.commanding.CommandApplication`)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def outcome_hooks(self) -> Mapping[str, Callable[[Work, Invoice], None]]: ...

    def load(self, kind: type[A], aggregate_id: UUID) -> A: ...

    def registered_account(self, account: str) -> Account | None: ...

    def cached(self, aggregate_id: UUID) -> bool: ...


class Work:
    def __init__(
        self, ledger: Ledger, actor: Actor, action: str,
        touched: dict[UUID, LedgerAggregate] | None = None,
        created: dict[UUID, str] | None = None, *, account: str | None = None,
    ) -> None:
        """`touched` and `created` are shared by the commands of one batch, so a
        command sees what the ones before it did. `account`: whose aggregates the
        command touches (the actor's, but for a partner's answer)."""
        self.ledger = ledger
        self.actor = actor
        self.account = actor.account if account is None else account
        self.action = action
        self.touched: dict[UUID, LedgerAggregate] = {} if touched is None else touched
        self.created: dict[UUID, str] = {} if created is None else created
        self._pending_before: dict[UUID, int] = {}

    def get(self, kind: type[A], aggregate_id: UUID) -> A:
        """Load an aggregate of the actor's account; the same object within one attempt.
        Another account's is NotFound, the answer for one that does not exist, so no
        account learns what another holds."""
        if aggregate_id in self.touched:
            found = self.touched[aggregate_id]
        else:
            found = self.ledger.load(kind, aggregate_id)
        if found.account != self.account or not isinstance(found, kind):
            raise NotFound(kind.KIND, aggregate_id)
        self._touch(found)
        return found

    def new_id(self, kind: type[A], reference: UUID | None) -> UUID:
        """A new aggregate's stored id: scoped from the caller's reference when it gave
        one (`LedgerAggregate.scoped_id`), else random."""
        return uuid4() if reference is None else kind.scoped_id(self.account, reference)

    def named(self, kind: type[A], reference: UUID) -> A:
        """The aggregate a command names: by the caller's own reference for it, or by
        its stored id (a receipt's, an event's). Another account's, or none, is
        NotFound under the name the caller gave."""
        scoped = kind.scoped_id(self.account, reference)
        if scoped in self.touched or self.ledger.cached(scoped):
            return self.get(kind, scoped)
        for candidate in (reference, scoped):
            try:
                return self.get(kind, candidate)
            except NotFound:
                continue
        raise NotFound(kind.KIND, reference)

    def add(self, aggregate: A) -> A:
        """Track a new aggregate, to be saved with the rest."""
        self._pending_before.setdefault(aggregate.id, 0)  # its creation counts
        self._touch(aggregate)
        self.created[aggregate.id] = aggregate.KIND
        return aggregate

    @property
    def events(self) -> int:
        """How many events this command triggered (a batch's earlier ones aside)."""
        return sum(len(self.touched[aggregate_id].pending_events) - before
                   for aggregate_id, before in self._pending_before.items())

    def _touch(self, aggregate: LedgerAggregate) -> None:
        self.touched[aggregate.id] = aggregate
        self._pending_before.setdefault(aggregate.id, len(aggregate.pending_events))


class Loading(Protocol):
    @property
    def repository(self) -> Repository[UUID]: ...


def load(ledger: Loading, kind: type[A], aggregate_id: UUID) -> A:
    try:
        found: LedgerAggregate = ledger.repository.get(aggregate_id)
    except AggregateNotFoundError:
        raise NotFound(kind.KIND, aggregate_id) from None
    if not isinstance(found, kind):
        raise NotFound(kind.KIND, aggregate_id)
    return found

