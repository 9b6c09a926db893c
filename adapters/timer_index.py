"""The due-timer index: which aggregate has which time-driven step due when.

A table of (aggregate, action) -> due instant, with the position in the event log it
reflects, both written in one transaction. It lives beside the event store: a derived
SQLite file for a SQLite store (the library's own connection keeps the store's file),
tables in the same schema for PostgreSQL. Selecting what is due uses an index on the
due instant, so a tick costs what falls due, not what is open.

The index is ticked often (the demo's host every five minutes) and mostly finds nothing
new and nothing due, so it keeps in memory what spares it queries: its position, the
timers recorded but not yet written (written when a query needs them), the timers it
last recorded per aggregate (an unchanged one is not written again), a lower bound of
the earliest due instant, and whether any timer may be marked failed. Each stays safe
when another process shares the tables: every process reads the whole log itself (so it
sees every timer it bounds), and a failed mark another process made and this one drops
only means one more refused attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.exc import OperationalError as SAOperationalError

from payledger.adapters.store import Store, make_folder

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NEVER = 2**62  # later than any due instant: an empty index
POSITION_EVERY = 1000  # notifications read before the position is stored anyway
WAITING_MAX = 1000  # aggregates whose timers wait in memory before they are written
WRITTEN_MEMORY = 100_000  # aggregates whose last written timers are remembered
RACES = 5  # writes of the same rows another process made first, before giving up


def micros(instant: datetime) -> int:
    """Microseconds since the epoch: sorts the same on SQLite and PostgreSQL."""
    delta = instant - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def instant(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


@dataclass(frozen=True)
class Due:
    aggregate_id: UUID
    action: str
    account: str
    kind: str
    due_at: datetime
    set_by: UUID | None = None
    """The event after which the timer was last set (its step's causation)."""
    correlation_id: UUID | None = None
    """That event's correlation, which the step keeps."""


@dataclass(frozen=True)
class Timers:
    """Every timer one aggregate has now (an empty mapping clears them), and the event
    that set them (not compared: an unchanged timer keeps the event that first set it)."""

    account: str
    kind: str
    due: Mapping[str, datetime]
    set_by: UUID | None = field(default=None, compare=False)
    correlation_id: UUID | None = field(default=None, compare=False)


class TimerIndex:
    def __init__(self, store: Store, name: str) -> None:
        self.name = name
        self.engine = _engine(store, name)
        metadata = MetaData(schema=store.schema or None)
        # "_due": the tables of the index that records each timer's cause; an index of
        # an earlier shape stays behind unread, and this one is built from the log
        self.timers = Table(
            f"{name}_due", metadata,
            Column("aggregate_id", String(32), primary_key=True),
            Column("action", String(64), primary_key=True),
            Column("account", String(200), nullable=False),
            Column("kind", String(200), nullable=False),  # the aggregate's topic
            Column("due_at", BigInteger, nullable=False),
            Column("failed", Boolean, nullable=False, default=False),
            Column("set_by", String(32), nullable=True),
            Column("correlation_id", String(32), nullable=True),
            Index(f"{name}_due_at", "failed", "due_at"),
        )
        self.tracking = Table(
            f"{name}_due_tracking", metadata,
            Column("name", String(64), primary_key=True),
            Column("position", BigInteger, nullable=False),
        )
        # two processes opening a new store at once both find the tables missing
        _raced(lambda: metadata.create_all(self.engine),
               SAOperationalError, IntegrityError, ProgrammingError)
        self._position: int | None = None
        self._stored_position = 0
        self._written: dict[UUID, Timers] = {}  # what this index last recorded, by aggregate
        self._waiting: dict[UUID, Timers] = {}  # recorded, not yet written
        self._earliest: int | None = None  # no due instant is earlier (None: unknown)
        # The first due instant past what `due` last returned, lowered by what is
        # recorded since; the bound once the caller has run those (`handled`).
        self._after: int | None = None
        self._may_have_failed = True

    def position(self) -> int:
        if self._position is None:
            with self.engine.connect() as conn:
                found = conn.execute(select(self.tracking.c.position)
                                     .where(self.tracking.c.name == self.name)).scalar()
            self._position = self._stored_position = int(found or 0)
        return self._position

    def record(self, changes: Mapping[UUID, Timers], position: int) -> None:
        """Replace the timers of each changed aggregate, as of `position` in the log.

        Timers the same as this index last recorded are skipped; the others are kept
        in memory and written, with the position, in one transaction when a query
        needs them (`due`), when many are waiting, or on `close`. A crash loses only
        what is read again from the log, since the stored position moves with them.
        """
        changed = {key: timers for key, timers in changes.items()
                   if self._written.get(key) != timers}
        if len(self._written) > WRITTEN_MEMORY:
            self._written.clear()
        self._written.update(changed)
        self._waiting.update(changed)
        self._position = position
        dues = [micros(due) for timers in changed.values() for due in timers.due.values()]
        if dues and self._earliest is not None:
            self._earliest = min(self._earliest, *dues)
        if dues and self._after is not None:
            self._after = min(self._after, *dues)
        if len(self._waiting) >= WAITING_MAX or position - self._stored_position >= POSITION_EVERY:
            self.flush()

    def flush(self) -> None:
        """Write the timers waiting in memory and the position, in one transaction.

        A timer that failed keeps its mark while its due instant is unchanged, so a
        step the aggregate refused is not tried again until the aggregate changes.
        Another process indexing the same events at once (two ticks) may write the same
        rows first: the write is then made again, over theirs (both come from the log).
        """
        if not self._waiting and self._position in (None, self._stored_position):
            return
        _raced(self._write_waiting, IntegrityError)
        self._stored_position = self.position()
        self._waiting = {}

    def _write_waiting(self) -> None:
        waiting, keys = self._waiting, [aggregate_id.hex for aggregate_id in self._waiting]
        with self.engine.begin() as conn:
            failed = self._failed(conn, keys)
            for chunk in _chunks(keys, 500):
                conn.execute(delete(self.timers).where(self.timers.c.aggregate_id.in_(chunk)))
            rows: list[dict[str, Any]] = [
                {"aggregate_id": aggregate_id.hex, "action": action, "account": timers.account,
                 "kind": timers.kind, "due_at": micros(due),
                 "failed": (aggregate_id.hex, action, micros(due)) in failed,
                 "set_by": _hex(timers.set_by), "correlation_id": _hex(timers.correlation_id)}
                for aggregate_id, timers in waiting.items() for action, due in timers.due.items()]
            if rows:
                conn.execute(insert(self.timers), rows)
            self._move(conn, self.position())

    def _failed(self, conn: Connection, keys: list[str]) -> set[tuple[Any, ...]]:
        """The failed marks among `keys`' timers (none to look for, usually)."""
        if not self._may_have_failed:
            return set()
        column = self.timers.c.aggregate_id
        failed: set[tuple[Any, ...]] = set()
        for chunk in _chunks(keys, 500):
            failed.update(tuple(row) for row in conn.execute(
                select(column, self.timers.c.action, self.timers.c.due_at)
                .where(and_(column.in_(chunk), self.timers.c.failed))).all())
        self._may_have_failed = bool(failed) or conn.execute(
            select(column).where(self.timers.c.failed).limit(1)).first() is not None
        return failed

    def _move(self, conn: Connection, position: int) -> None:
        done = conn.execute(update(self.tracking).where(self.tracking.c.name == self.name)
                            .values(position=position))
        if done.rowcount == 0:
            conn.execute(insert(self.tracking).values(name=self.name, position=position))

    def due(self, as_of: datetime, limit: int = 1000) -> list[Due]:
        """Timers due by `as_of` that did not fail, earliest first.

        The query reads one timer past `as_of` too: once the caller has run what was
        due (`handled`), nothing is due before it, or before what was recorded since.
        """
        by = micros(as_of)
        if self._earliest is not None and by < self._earliest:
            return []
        self.flush()
        pending = self.timers.c.failed.is_(False)  # sargable: the index is (failed, due_at)
        query = (select(self.timers).where(and_(pending, self.timers.c.due_at <= by))
                 .order_by(self.timers.c.due_at, self.timers.c.aggregate_id).limit(limit))
        with self.engine.connect() as conn:
            found = [Due(UUID(row.aggregate_id), row.action, row.account, row.kind,
                         instant(row.due_at), _uuid(row.set_by), _uuid(row.correlation_id))
                     for row in conn.execute(query)]
            self._after = None
            if len(found) < limit:
                after = conn.execute(select(func.min(self.timers.c.due_at))
                                     .where(and_(pending, self.timers.c.due_at > by))).scalar()
                self._after = _NEVER if after is None else int(after)
        self._earliest = micros(found[0].due_at) if found else self._after
        return found

    def failed(self) -> list[Due]:
        """Timers marked failed (their step refused and set aside), earliest first."""
        self.flush()
        query = (select(self.timers).where(self.timers.c.failed.is_(True))
                 .order_by(self.timers.c.due_at, self.timers.c.aggregate_id))
        with self.engine.connect() as conn:
            return [Due(UUID(row.aggregate_id), row.action, row.account, row.kind,
                        instant(row.due_at), _uuid(row.set_by), _uuid(row.correlation_id))
                    for row in conn.execute(query)]

    def handled(self) -> None:
        """The caller ran (or marked failed) every timer the last `due` returned: what
        is due next is the first timer after them, or one recorded since."""
        if self._after is not None:
            self._earliest, self._after = self._after, None

    def forget_bound(self) -> None:
        """Some timer due was left unrun (a race lost): the next `due` reads the table."""
        self._earliest = self._after = None

    def mark_failed(self, refused: Iterable[Due]) -> None:
        refused = list(refused)
        if not refused:
            return
        self.flush()
        self._may_have_failed = True
        for timer in refused:  # the next change of these aggregates is written
            self._written.pop(timer.aggregate_id, None)
        mark = update(self.timers).values(failed=True).where(and_(
            self.timers.c.aggregate_id == bindparam("key"),
            self.timers.c.action == bindparam("step"),
            self.timers.c.due_at == bindparam("due")))
        with self.engine.begin() as conn:
            conn.execute(mark, [{"key": t.aggregate_id.hex, "step": t.action,
                                 "due": micros(t.due_at)} for t in refused])

    def unmark(self, aggregate_id: UUID, action: str) -> None:
        """Clear a step's failed mark (an operator retries it): the next `due` sees it."""
        self.flush()
        with self.engine.begin() as conn:
            conn.execute(update(self.timers).values(failed=False).where(and_(
                self.timers.c.aggregate_id == aggregate_id.hex,
                self.timers.c.action == action)))
        self._earliest = self._after = None  # the bound is unknown again

    def close(self) -> None:
        self.flush()
        self.engine.dispose()


def _raced(write: Callable[[], object], *lost: type[Exception]) -> None:
    """`write`, made again when another process made the same rows or tables first
    (the error types in `lost`): the next attempt sees theirs. The last loss is raised."""
    for attempt in range(RACES):
        try:
            write()
        except lost:
            if attempt == RACES - 1:
                raise
            continue
        return


def _hex(value: UUID | None) -> str | None:
    return None if value is None else value.hex


def _uuid(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _relaxed_sqlite(connection: Any, _record: Any) -> None:
    """WAL without an fsync per commit: the index is derived and rebuilds from the log.

    Rows and position are still written in one transaction, so whatever survives a
    crash is consistent; a lost tail is read again from the log.
    """
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")


def _engine(store: Store, name: str) -> Engine:
    if store.kind == "sqlite":
        path = store.derived_path(name, ".timers.db")
        make_folder(path.parent)
        engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})
        event.listen(engine, "connect", _relaxed_sqlite)
        return engine
    password = f":{store.password}" if store.password else ""
    url = (f"postgresql+psycopg://{store.user}{password}@{store.host}:{store.port}/"
           f"{store.dbname}")
    return create_engine(url, pool_pre_ping=True)
