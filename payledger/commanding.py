"""What every payledger application that takes commands shares: the Ledger, and the
Settlement (whose store holds the balances).

`execute(actor, command)` authorizes the command, opens its envelope, runs its handler,
and saves every aggregate the handler touched, with the idempotency record when the
command carries a key, in one transaction. A concurrent write to the same aggregate is
retried a bounded number of times, then raised as `Conflict`. Every save seals the
events' hash chain (`adapters/chain.py`).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, Mapper, OperationalError, Recording

from payledger.adapters.chain import LedgerMapper, broken_links, seal
from payledger.adapters.store import Store, creating_tables
from payledger.domain.commands import Command
from payledger.domain.envelope import Envelope, LedgerAggregate, acting
from payledger.domain.errors import Conflict, NotFound, Unavailable, ValidationError
from payledger.domain.idempotency import IdempotencyRecord
from payledger.domain.permissions import Actor
from payledger.domain.time import Clock, SystemClock, aware
from payledger.settings import Settings
from payledger.wiring import ApplicationWiring, Handler, OutcomeHook
from payledger.work import Work, load

A = TypeVar("A", bound=LedgerAggregate)


class Receipt:
    """What a command did: the aggregate it was about and how many events it wrote."""

    __slots__ = ("aggregate_id", "command_id", "events", "repeated")

    def __init__(self, aggregate_id: UUID, command_id: UUID, events: int, repeated: bool) -> None:
        self.aggregate_id = aggregate_id
        self.command_id = command_id
        self.events = events
        self.repeated = repeated

    def __repr__(self) -> str:
        return (f"Receipt(aggregate_id={self.aggregate_id}, events={self.events}, "
                f"repeated={self.repeated})")


class CommandApplication(Application[UUID]):
    """An application on `store` that runs the commands its `wiring` names
    (`payledger.bootstrap.application_wiring`)."""

    def __init__(self, settings: Settings, store: Store, wiring: ApplicationWiring, *,
                 clock: Clock | None = None) -> None:
        self.wiring = wiring
        self.handlers: Mapping[type[Command], Handler] = wiring.handlers
        self.outcome_hooks: Mapping[str, OutcomeHook] = wiring.outcome_hooks
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        try:
            with creating_tables(store):
                super().__init__(env=self.store_env(store))
        except OperationalError as error:
            raise Unavailable(f"event store {store.kind}: {error}") from None

    def store_env(self, store: Store) -> dict[str, str]:
        return store.env(self.name)

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(transcoder=self.construct_transcoder(),
                                   mapper_class=LedgerMapper)

    # -- commands ------------------------------------------------------------------

    def execute(self, actor: Actor, command: Command) -> Receipt:
        name = type(command).__name__
        handler = self.handlers.get(type(command))
        if handler is None:
            raise ValidationError("command", f"{name} is not a command of {self.name}")
        actor.require(command.permission, name)
        envelope = self._envelope(actor, command)
        lost = 0
        for _ in range(self.settings.conflict_retries + 1):
            if command.idempotency_key and (done := self._repeat(actor, command)):
                return done
            work = Work(self, actor, name)
            with acting(envelope):
                aggregate_id = handler(work, command, self.settings)
                record = self._record_key(command, aggregate_id, work, envelope)
            if lost:
                self._refuse_taken_ids(work)
            try:
                recordings = self.save(*work.touched.values(), record)
            except IntegrityError:
                lost += 1
                time.sleep(random.uniform(0, 0.002 * lost))  # jitter: let the winner finish
                continue
            return Receipt(aggregate_id, envelope.command_id, len(recordings), repeated=False)
        raise Conflict(f"{name}: a concurrent write won {self.settings.conflict_retries + 1} times")

    def _refuse_taken_ids(self, work: Work) -> None:
        """After a lost race: a retry that still makes a new aggregate under an id the
        store already holds is a duplicate (an id the caller chose), not a race to
        retry. A handler that derives an id (a buyer's, an installment's invoice) finds
        the winner's aggregate on its retry and makes nothing new."""
        for aggregate_id, kind in work.created.items():
            if self.recorder.select_events(aggregate_id, limit=1):
                raise Conflict(f"{kind} {aggregate_id} already exists")

    def _envelope(self, actor: Actor, command: Command) -> Envelope:
        command_id = uuid4()
        return Envelope(
            account=actor.account,
            at=aware(command.at or self.clock.now(), "at"),
            actor=actor.id,
            correlation_id=command.correlation_id or command_id,
            causation_id=command.causation_id,
            command_id=command_id,
        )

    def _record_key(
        self, command: Command, aggregate_id: UUID, work: Work, envelope: Envelope
    ) -> IdempotencyRecord | None:
        if not command.idempotency_key:
            return None
        return IdempotencyRecord(
            id=IdempotencyRecord.create_id(envelope.account, command.idempotency_key),
            key=command.idempotency_key,
            command=type(command).__name__,
            digest=_digest(command),
            result={"aggregate_id": str(aggregate_id), "command_id": str(envelope.command_id),
                    "events": sum(len(a.pending_events) for a in work.touched.values()) + 1},
        )

    def _repeat(self, actor: Actor, command: Command) -> Receipt | None:
        assert command.idempotency_key
        key_id = IdempotencyRecord.create_id(actor.account, command.idempotency_key)
        try:
            record = load(self, IdempotencyRecord, key_id)
        except NotFound:
            return None
        if record.command != type(command).__name__ or record.digest != _digest(command):
            raise Conflict(f"idempotency_key {command.idempotency_key!r} was used for "
                           f"another request ({record.command})")
        first = record.result
        return Receipt(UUID(first["aggregate_id"]), UUID(first["command_id"]),
                       first["events"], repeated=True)

    # -- storage -------------------------------------------------------------------

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        heads = {agg_id: getattr(agg, "chain_head", "")
                 for agg_id, agg in processing_event.aggregates.items()}
        heads = seal(self.mapper.transcoder, processing_event.events, heads)
        for agg_id, agg in processing_event.aggregates.items():
            if isinstance(agg, LedgerAggregate):
                agg.chain_head = heads.get(agg_id, agg.chain_head)
        return super()._record(processing_event)

    # -- queries -------------------------------------------------------------------

    def load(self, kind: type[A], aggregate_id: UUID) -> A:
        return load(self, kind, aggregate_id)

    def get(self, actor: Actor, kind: type[A], aggregate_id: UUID) -> A:
        """An aggregate of the actor's account, as it stands now."""
        found = load(self, kind, aggregate_id)
        actor.require_account(found.account, f"read {kind.KIND}")
        return found

    def stored_events(self, aggregate_id: UUID) -> Iterator[Any]:
        return iter(self.recorder.select_events(aggregate_id))

    def broken_links(self, aggregate_id: UUID) -> list[int]:
        """Versions of the aggregate whose hash-chain link fails (empty when intact)."""
        return broken_links(self.mapper.transcoder, self.recorder.select_events(aggregate_id))


def _digest(command: Command) -> str:
    body = json.dumps(command.digest_fields(), sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()
