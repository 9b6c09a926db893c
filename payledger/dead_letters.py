"""Reading and writing dead letters (`payledger.domain.dead_letter`) in an application's
store: the envelope a follower writes them in, and the pending ones an operator lists."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import Application

from payledger.domain.dead_letter import DeadLetter, LetterStatus
from payledger.domain.envelope import Envelope
from payledger.domain.permissions import PLATFORM_PARTY, Kind
from payledger.work import load

RECORDED = DeadLetter.Recorded.TOPIC


def follower_envelope(follower: str, role: str, key: str, at: datetime,
                      correlation_id: UUID | None = None) -> Envelope:
    """A letter's envelope: the platform's account, the follower as its actor, and a
    command id derived from the letter's key (a replay writes the same)."""
    command_id = uuid5(NAMESPACE_URL, f"payledger:dead-letter:{follower}:{key}")
    return Envelope(account=PLATFORM_PARTY, at=at, actor=follower,
                    actor_kind=Kind.PLATFORM.value, actor_role=role,
                    correlation_id=correlation_id or command_id, causation_id=None,
                    command_id=command_id)


def letters(app: Application[UUID], follower: str | None = None,
            status: LetterStatus | None = LetterStatus.PENDING) -> Iterator[DeadLetter]:
    """The app's letters in the order they were set aside (of one follower, of one status)."""
    start = None
    while page := app.recorder.select_notifications(
            start=start, limit=1000, topics=(RECORDED,), inclusive_of_start=False):
        for notification in page:
            found = load(app, DeadLetter, UUID(str(notification.originator_id)))
            if (follower is None or found.follower == follower) and (
                    status is None or found.status == status):
                yield found
        start = page[-1].id


def blocked(app: Application[UUID], follower: str) -> set[str]:
    """The aggregates (ids as text) with a pending letter: their later events wait."""
    return {letter.aggregate_id for letter in letters(app, follower)}
