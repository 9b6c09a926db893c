"""DeadLetter: an event a follower could not process, or a timed step that was refused,
set aside so the others go on.

One shape for every follower (the settlement's policy, the schedulers, and later the
read models' projectors): which follower, the key of what it could not process (a log
position, or a timer), the aggregate it is about, its topic or step, and the error. A
follower writes a letter in the transaction that moves its tracking position, so an
event is either processed or set aside, never both, never neither. The same
aggregate's later events wait behind a pending letter (set aside too, `waiting`);
other aggregates go on. A store error (connection, lock, a lost race) is retried,
never set aside. Letters live in the follower's own store, under the platform's
account: operators list and retry them (`payledger dead-letters`).
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID, uuid5

from eventsourcing.domain import event

from payledger.domain.envelope import LedgerAggregate, LedgerCreated, LedgerEvent
from payledger.domain.permissions import Permission

NAMESPACE = UUID("c4e1a7d2-3b9f-4e65-8a10-5d7c2f9b6e31")
ERROR_MAX = 1_000


class LetterStatus(StrEnum):
    PENDING = "pending"
    RESOLVED = "resolved"


def described(error: BaseException) -> str:
    """What an operator reads of an error: its type and message, bounded."""
    return f"{type(error).__name__}: {error}"[:ERROR_MAX]


class DeadLetter(LedgerAggregate):
    TOPIC = "payledger:DeadLetter"
    KIND = "DeadLetter"
    READ = Permission.OPERATE  # a platform permission: no account reads another's letters

    @staticmethod
    def create_id(follower: str, key: str) -> UUID:
        return uuid5(NAMESPACE, f"{follower}\n{key}")

    class Recorded(LedgerCreated):
        TOPIC = "payledger:DeadLetter.Recorded"
        follower: str
        key: str
        aggregate_id: str
        event_version: int | None
        topic: str
        error: str
        waiting: bool

    @event(Recorded)
    def __init__(self, id: UUID, follower: str, key: str, aggregate_id: str,
                 event_version: int | None, topic: str, error: str, waiting: bool) -> None:
        """`key`: the log position (a follower's) or the timer (a scheduler's);
        `event_version`: the event's in its aggregate (None for a timer); `waiting`: set aside
        behind an earlier letter of the same aggregate, not for an error of its own."""
        self.follower = follower
        self.key = key
        self.aggregate_id = aggregate_id
        self.event_version = event_version
        self.topic = topic
        self.error = error
        self.waiting = waiting
        self.attempts = 1
        self.status = LetterStatus.PENDING

    @classmethod
    def record(cls, follower: str, key: str, aggregate_id: UUID | str,
               event_version: int | None, topic: str, error: str,
               waiting: bool = False) -> DeadLetter:
        return cls(id=cls.create_id(follower, key), follower=follower, key=key,
                   aggregate_id=str(aggregate_id), event_version=event_version, topic=topic,
                   error=error[:ERROR_MAX], waiting=waiting)

    def retry_failed(self, error: str) -> None:
        """Refused again: still pending, or pending again after an operator resolved it
        (a timed step retried and refused anew)."""
        self._retry_failed(error=error[:ERROR_MAX])

    class RetryFailed(LedgerEvent):
        TOPIC = "payledger:DeadLetter.RetryFailed"
        error: str

    @event(RetryFailed)
    def _retry_failed(self, error: str) -> None:
        self.error = error
        self.waiting = False
        self.attempts += 1
        self.status = LetterStatus.PENDING

    def resolve(self) -> None:
        self._require("resolve a dead letter", LetterStatus.PENDING)
        self._resolved()

    class Resolved(LedgerEvent):
        TOPIC = "payledger:DeadLetter.Resolved"

    @event(Resolved)
    def _resolved(self) -> None:
        self.status = LetterStatus.RESOLVED
