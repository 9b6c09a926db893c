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
MOVED = (RECORDED, DeadLetter.RetryFailed.TOPIC, DeadLetter.Resolved.TOPIC)


def follower_envelope(follower: str, role: str, key: str, at: datetime) -> Envelope:
    """A letter's envelope: the platform's account, the follower as its actor, and a
    command id derived from the letter's key (a replay writes the same)."""
    command_id = uuid5(NAMESPACE_URL, f"payledger:dead-letter:{follower}:{key}")
    return Envelope(account=PLATFORM_PARTY, at=at, actor=follower,
                    actor_kind=Kind.PLATFORM.value, actor_role=role,
                    correlation_id=command_id, causation_id=None,
                    command_id=command_id)


def letters(app: Application[UUID], follower: str | None = None,
            status: LetterStatus | None = LetterStatus.PENDING) -> Iterator[DeadLetter]:
    """The app's letters in the order they were set aside (of one follower, of one
    status); only those are loaded, the rest are known from one scan of the log."""
    for letter_id, (of, _, now) in _scan(app).items():
        if (follower is None or of == follower) and (status is None or now == status):
            yield load(app, DeadLetter, letter_id)


def blocked(app: Application[UUID], follower: str) -> set[str]:
    """The aggregates (ids as text) with a pending letter: their later events wait."""
    return {aggregate for of, aggregate, now in _scan(app).values()
            if of == follower and now == LetterStatus.PENDING}


def _scan(app: Application[UUID]) -> dict[UUID, tuple[str, str, LetterStatus]]:
    """Every letter's follower, aggregate and status, in the order they were set aside,
    from its events in the log (decoded, none loaded): a status follows the last."""
    found: dict[UUID, tuple[str, str, LetterStatus]] = {}
    start = None
    while page := app.recorder.select_notifications(
            start=start, limit=1000, topics=MOVED, inclusive_of_start=False):
        for notification in page:
            event = app.mapper.to_domain_event(notification)
            letter_id = UUID(str(notification.originator_id))
            if isinstance(event, DeadLetter.Recorded):
                found[letter_id] = (event.follower, event.aggregate_id, LetterStatus.PENDING)
            elif letter_id in found:
                follower, aggregate, _ = found[letter_id]
                now = (LetterStatus.RESOLVED if isinstance(event, DeadLetter.Resolved)
                       else LetterStatus.PENDING)
                found[letter_id] = (follower, aggregate, now)
        start = page[-1].id
    return found
