"""What every payledger application that takes commands shares: the Ledger, and the
Settlement (whose store holds the balances).

`execute(actor, command)` authorizes the command, opens its envelope, runs its handler,
and saves every aggregate the handler touched, with the idempotency record when the
command carries a key, in one transaction; `execute_many` does the same for many
commands in one transaction. A concurrent write to the same aggregate is retried a
bounded number of times, then raised as `Conflict`. Every save seals the events' hash
chain as the mapper encodes them (`adapters/chain.py`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

import orjson
from eventsourcing.application import Application, Repository
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import IntegrityError, Mapper, OperationalError, Recording
from eventsourcing.utils import get_topic

from payledger.adapters.chain import LedgerMapper, broken_links
from payledger.adapters.fastjson import FastJSONTranscoder
from payledger.adapters.store import Store, creating_tables
from payledger.domain.account import Account
from payledger.domain.commands import Command
from payledger.domain.envelope import Envelope, LedgerAggregate, acting
from payledger.domain.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PayLedgerError,
    Unavailable,
    ValidationError,
)
from payledger.domain.idempotency import IdempotencyRecord
from payledger.domain.permissions import Actor, Permission
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

    snapshot_class = Snapshot

    def __init__(self, settings: Settings, store: Store, wiring: ApplicationWiring, *,
                 clock: Clock | None = None) -> None:
        self.wiring = wiring
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        try:
            with creating_tables(store):
                super().__init__(env=self.store_env(store))
        except OperationalError as error:
            raise Unavailable(f"event store {store.kind}: {error}") from None

    @property
    def outcome_hooks(self) -> Mapping[str, OutcomeHook]:
        """What follows an invoice of each origin (a unit of work calls them)."""
        return self.wiring.outcome_hooks

    def store_env(self, store: Store) -> dict[str, str]:
        """The library's settings: the store's, the transcoder encoding with orjson,
        and the aggregate cache (fast-forwarded from the store on each use)."""
        prefix = self.name.upper()
        env = {**store.env(self.name),
               f"{prefix}_TRANSCODER_TOPIC": get_topic(FastJSONTranscoder)}
        if self.settings.aggregate_cache:
            env[f"{prefix}_AGGREGATE_CACHE_MAXSIZE"] = str(self.settings.aggregate_cache)
        if self.snapshot_interval or any(map(_own_interval, self.wiring.kinds)):
            env[f"{prefix}_IS_SNAPSHOTTING_ENABLED"] = "y"
        return env

    @property
    def snapshot_interval(self) -> int:
        """Events between two snapshots of an aggregate of this store (0: none); the
        Ledger's own setting is `ledger_snapshot_interval`. Where it is 0, a kind with
        an interval of its own (`SNAPSHOT_INTERVAL`: the coupon's) still takes them."""
        return self.settings.snapshot_interval

    def construct_repository(self) -> Repository[UUID]:
        """The library's repository, reading snapshots on a cache miss only when every
        kind takes them (`snapshot_interval`); beside it, the same repository (its
        cache, its fast-forward locks) reading snapshots, through which `load` reads a
        kind with an interval of its own. A miss on any other kind costs no snapshot
        query."""
        repository = super().construct_repository()
        self._snapshotted = _Loading(repository)
        if self.snapshots is not None and not self.snapshot_interval:
            self._snapshotted = _Loading(copy.copy(repository))
            repository.snapshot_store = None
        return repository

    def snapshot_due(self, aggregates: Iterable[object], events: Iterable[Any]) -> None:
        """Snapshots of the aggregates whose new `events` crossed a multiple of their
        interval (`self.snapshot_interval`, else their kind's own), taken from the
        aggregates as they now stand, just stored: `save` calls it, and so does the
        settlement after each page."""
        if self.snapshots is None:
            return
        saved = {a.id: a for a in aggregates if isinstance(a, LedgerAggregate)}
        every = {aggregate_id: self.snapshot_interval or _own_interval(type(aggregate))
                 for aggregate_id, aggregate in saved.items()}
        due = {event.originator_id for event in events if every.get(event.originator_id)
               and event.originator_version % every[event.originator_id] == 0}
        if due:
            self.snapshots.put([Snapshot.take(saved[aggregate_id]) for aggregate_id in due])

    def construct_mapper(self) -> Mapper[UUID]:
        mapper = self.factory.mapper(transcoder=self.construct_transcoder(),
                                     mapper_class=LedgerMapper)
        assert isinstance(mapper, LedgerMapper)
        self.chain: LedgerMapper = mapper
        return mapper

    # -- commands ------------------------------------------------------------------

    def execute(self, actor: Actor, command: Command) -> Receipt:
        return self.execute_many([(actor, command)])[0]

    def execute_many(self, commands: Iterable[tuple[Actor, Command]]) -> list[Receipt]:
        """Run each `(actor, command)` in order and save what they all did in one
        transaction: all or nothing. A later command sees what earlier ones did (a
        checkout's sale, then the gateway's approval of it). A command whose
        idempotency key was used before returns its first receipt and writes nothing.
        The first refusal is raised as it is, noting which command it was."""
        batch = [self._prepare(actor, command) for actor, command in commands]
        _refuse_repeated_keys(batch)
        repeated: dict[int, Receipt] = {}
        lost = 0
        while lost <= self.settings.conflict_retries:
            try:
                return self._attempt(batch, repeated, lost)
            except _Repeated as known:
                repeated[known.index] = known.receipt  # run the batch again without it
            except IntegrityError:
                lost += 1
                time.sleep(random.uniform(0, 0.002 * lost))  # jitter: let the winner finish
        names = ", ".join(sorted({type(p.command).__name__ for p in batch}))
        raise Conflict(f"{names}: a concurrent write won {lost} times")

    def _prepare(self, actor: Actor, command: Command) -> _Prepared:
        name = type(command).__name__
        handler = self.wiring.handlers.get(type(command))
        if handler is None:
            raise ValidationError("command", f"{name} is not a command of {self.name}")
        actor = self.current(actor, name)
        self.authorize(actor, command)
        # The scheduler's steps are dated at due instants, bounded where they were set:
        # a host's tick may run them ahead of its clock (a catch-up), and they are raised
        # to an aggregate's last instant rather than refused. A host's own `at` is held
        # to business time's bounds, and never runs an aggregate backwards.
        timed = actor.can(Permission.RUN_TIMED_STEPS)
        if not timed:
            s = self.settings
            command.check_instants(self.clock.now(), s.earliest_instant,
                                   timedelta(seconds=s.clock_skew_seconds),
                                   timedelta(days=s.horizon_days))
        return _Prepared(actor, command, handler,
                         self._envelope(actor, command, at_given=command.at is not None
                                        and not timed))

    @staticmethod
    def authorize(actor: Actor, command: Command) -> None:
        """Refuses (`Forbidden`) a principal the command does not allow: its kind, its
        permission, and what the command asks of it (an account principal never passes
        a correlation id, ...). What a command touches is checked as it runs."""
        actor.require_allowed(command.allowed, type(command).__name__)
        command.authorize(actor)

    # -- principals ----------------------------------------------------------------

    @property
    def directory(self) -> Application[UUID]:
        """The application whose store holds the accounts (the Ledger)."""
        return self

    def registered_account(self, account: str) -> Account | None:
        """The account's registration, or None when it was never registered."""
        try:
            return load(self.directory, Account, Account.create_id(account))
        except NotFound:
            return None

    def actor(self, account: str, user: str) -> Actor:
        """The principal of `user` (an email) in a registered account: the owner's
        profile for its registered owner, a collaborator's own profile."""
        registered = self.registered_account(account)
        if registered is None:
            raise NotFound(Account.KIND, account)
        found = registered.principal(user.strip().lower())
        if found is None:
            raise Forbidden(user, "act for the account",
                            f"is neither the owner nor a collaborator of {account!r}")
        return found

    def current(self, actor: Actor, action: str) -> Actor:
        """An account principal as its registered account has it now (its collaborators
        as they stand, so a removed one is refused at once, even through an actor built
        before); unchanged for an unregistered account or a platform principal."""
        if actor.is_platform:
            return actor
        registered = self.registered_account(actor.account)
        if registered is None:
            return actor
        found = registered.principal(actor.id)
        if found is None:
            raise Forbidden(actor.id, action, f"is neither the owner nor a collaborator of "
                                              f"account {actor.account!r}")
        return found

    def _attempt(
        self, batch: list[_Prepared], repeated: dict[int, Receipt], lost: int
    ) -> list[Receipt]:
        touched: dict[UUID, LedgerAggregate] = {}
        created: dict[UUID, str] = {}
        results: list[tuple[UUID, _Prepared, int] | Receipt] = []
        records: list[IdempotencyRecord.Recorded] = []
        for index, prepared in enumerate(batch):
            if index in repeated:
                results.append(repeated[index])
                continue
            if lost and (done := self._repeat(prepared)):
                raise _Repeated(index, done)  # a collision: the key's first run won
            aggregate_id, events = self._run(prepared, index, Work(
                self, prepared.actor, type(prepared.command).__name__, touched, created,
                account=prepared.envelope.account))
            record = self._record_key(prepared, aggregate_id, events)
            if record is not None:
                records.append(record)
                events += 1
            results.append((aggregate_id, prepared, events))
        if lost:
            self._refuse_taken_ids(created)
        self.save(*touched.values(), *records)
        self._keep(touched.values())
        return [r if isinstance(r, Receipt) else
                Receipt(r[0], r[1].envelope.command_id, r[2], repeated=False) for r in results]

    def _run(self, prepared: _Prepared, index: int, work: Work) -> tuple[UUID, int]:
        """The command's handler; the aggregate it is about and how many events it added."""
        try:
            with acting(prepared.envelope):
                aggregate_id = prepared.handler(work, prepared.command, self.settings)
        except PayLedgerError as error:
            if (done := self._repeat(prepared)) is not None:
                raise _Repeated(index, done) from None  # refused now, done the first time
            error.add_note(f"command {index + 1}: {type(prepared.command).__name__}")
            raise
        return aggregate_id, work.events

    def _refuse_taken_ids(self, created: dict[UUID, str]) -> None:
        """After a lost race: a retry that still makes a new aggregate under an id the
        store already holds is a duplicate (an id the caller chose), not a race to
        retry. A handler that derives an id (a buyer's, an installment's invoice) finds
        the winner's aggregate on its retry and makes nothing new."""
        for aggregate_id, kind in created.items():
            if self.recorder.select_events(aggregate_id, limit=1):
                raise Conflict(f"{kind} {aggregate_id} already exists")

    def _envelope(self, actor: Actor, command: Command, *, at_given: bool) -> Envelope:
        command_id = uuid4()
        return Envelope(
            account=command.acting_account(actor),
            at=aware(command.at or self.clock.now(), "at"),
            actor=actor.id,
            actor_kind=actor.kind.value,
            actor_role=actor.role,
            at_given=at_given,
            correlation_id=command.correlation_id or command_id,
            causation_id=command.causation_id,
            command_id=command_id,
        )

    def _record_key(
        self, prepared: _Prepared, aggregate_id: UUID, events: int
    ) -> IdempotencyRecord.Recorded | None:
        """The key's record, under an id derived from account and key: a second use
        of the key collides with the first when saved, and only then is it looked up."""
        command, envelope = prepared.command, prepared.envelope
        if not command.idempotency_key:
            return None
        with acting(envelope):
            return IdempotencyRecord.recorded(
                envelope.account, command.idempotency_key, type(command).__name__,
                _digest(command), {"aggregate_id": str(aggregate_id),
                                   "command_id": str(envelope.command_id), "events": events + 1},
            )

    def _repeat(self, prepared: _Prepared) -> Receipt | None:
        """The first receipt of a command whose key was used before, if it was."""
        command = prepared.command
        if not command.idempotency_key:
            return None
        key_id = IdempotencyRecord.create_id(prepared.envelope.account, command.idempotency_key)
        try:
            record = load(self, IdempotencyRecord, key_id)
        except NotFound:
            return None
        if record.command != type(command).__name__ or record.digest not in _digests(command):
            raise Conflict(f"idempotency_key {command.idempotency_key!r} was used for "
                           f"another request ({record.command})")
        first = record.result
        return Receipt(UUID(first["aggregate_id"]), UUID(first["command_id"]),
                       first["events"], repeated=True)

    # -- storage -------------------------------------------------------------------

    def _keep(self, saved: Iterable[object]) -> None:
        """Put each saved aggregate in the library's cache, as it does itself without
        fast-forward: the next command on it (a sale's charge, then its approval) then
        reads only what was stored since, usually nothing. The objects are the
        attempt's own and nothing changes them after the save; the cache hands out
        copies."""
        cache = self.repository.cache
        if cache is not None:
            for aggregate in saved:
                if isinstance(aggregate, LedgerAggregate):
                    cache.put(aggregate.id, aggregate)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's save, sealing the events' hash chain as they are encoded
        (`adapters/chain.py`); each saved aggregate's chain head follows."""
        with self.chain.saving() as heads:
            recordings = super().save(*objs, **kwargs)
        follow_heads(objs, heads)
        self.snapshot_due(objs, (recording.domain_event for recording in recordings))
        return recordings

    # -- queries -------------------------------------------------------------------

    def load(self, kind: type[A], aggregate_id: UUID) -> A:
        """The aggregate as it stands now; one of a kind with a snapshot interval of its
        own, when the cache misses it, from its latest snapshot and the events after it."""
        return load(self._snapshotted if _own_interval(kind) else self, kind, aggregate_id)

    def cached(self, aggregate_id: UUID) -> bool:
        """Whether the aggregate cache holds it (so it exists): no read."""
        cache = self.repository.cache
        if cache is None:
            return False
        try:
            cache.get(aggregate_id)
        except KeyError:
            return False
        return True

    def get(self, actor: Actor, kind: type[A], aggregate_id: UUID, *,
            permission: Permission | None = None) -> A:
        """An aggregate of the actor's account, as it stands now. An account principal
        needs the aggregate's read permission (`kind.READ`) or the one a query names;
        another account's aggregate is NotFound, as one that does not exist."""
        if not actor.is_platform:
            actor = self.current(actor, f"read {kind.KIND}")
            actor.require(permission or kind.READ, f"read {kind.KIND}")
        found = self.load(kind, aggregate_id)
        if found.account != actor.account:
            raise NotFound(kind.KIND, aggregate_id)
        return found

    def stored_events(self, aggregate_id: UUID) -> Iterator[Any]:
        return iter(self.recorder.select_events(aggregate_id))

    def broken_links(self, aggregate_id: UUID) -> list[int]:
        """Versions of the aggregate whose hash-chain link fails (empty when intact)."""
        return broken_links(self.mapper.transcoder, self.recorder.select_events(aggregate_id))


def _own_interval(kind: type[object]) -> int:
    """A kind's own snapshot interval (`SNAPSHOT_INTERVAL`), 0 when it has none."""
    interval: int = getattr(kind, "SNAPSHOT_INTERVAL", 0)
    return interval


@dataclass(frozen=True)
class _Loading:
    """A repository to `load` through."""

    repository: Repository[UUID]


def _digest(command: Command) -> str:
    body = orjson.dumps(command.digest_fields(), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


def _digests(command: Command) -> tuple[str, str]:
    """The command's digest, and the one records written before 2026-12 hold (the
    stdlib's spaced JSON), which a retry spanning the upgrade still matches."""
    legacy = json.dumps(command.digest_fields(), sort_keys=True, default=str)
    return _digest(command), hashlib.sha256(legacy.encode()).hexdigest()


def _refuse_repeated_keys(batch: list[_Prepared]) -> None:
    """A key twice in one batch would collide with itself, not with a first run."""
    seen: set[tuple[str, str]] = set()
    for prepared in batch:
        key = prepared.command.idempotency_key
        if key is None:
            continue
        if (prepared.envelope.account, key) in seen:
            raise ValidationError("idempotency_key", f"{key!r} is used twice in one batch")
        seen.add((prepared.envelope.account, key))


def follow_heads(saved: Iterable[object], heads: Mapping[UUID, tuple[int, str]]) -> None:
    """Each saved aggregate's chain head is the hash of its last event just stored."""
    for aggregate in saved:
        if isinstance(aggregate, LedgerAggregate) and aggregate.id in heads:
            aggregate.chain_head = heads[aggregate.id][1]


@dataclass(frozen=True)
class _Prepared:
    """A command authorized and enveloped, with its handler, ready to run."""

    actor: Actor
    command: Command
    handler: Handler
    envelope: Envelope


class _Repeated(Exception):
    """A command of the batch turned out to be a repeat: run the batch without it."""

    def __init__(self, index: int, receipt: Receipt) -> None:
        self.index = index
        self.receipt = receipt
