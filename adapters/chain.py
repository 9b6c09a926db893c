"""The tamper-evident chain: each event stores its predecessor's hash and its own.

An event's hash is SHA-256 over its topic, aggregate id, version and its stored state
(with the hash field itself left empty), in the JSON the library's transcoder writes.
It is computed when the event is stored, because only then is its place known.
Verification decodes what is stored and hashes it again, so it checks the bytes that
were stored, not an upcast reading of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic


class LedgerMapper(Mapper[UUID]):
    """The library's mapper, but it always stores `class_version`, even 1."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(domain_event)),
            state=self._encode(stored_state(domain_event)),
        )

    def _encode(self, state: dict[str, Any]) -> bytes:
        data = self.transcoder.encode(state)
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        return data


def stored_state(domain_event: DomainEventProtocol[UUID]) -> dict[str, Any]:
    state = dict(vars(domain_event))
    del state["originator_id"], state["originator_version"]
    state["class_version"] = getattr(type(domain_event), "class_version", 1)
    return state


def digest(
    transcoder: Transcoder, topic: str, originator_id: UUID | str, version: int,
    state: dict[str, Any],
) -> str:
    body = transcoder.encode({**state, "hash": ""})
    head = f"{topic}\n{UUID(str(originator_id)).hex}\n{version}\n".encode()
    return hashlib.sha256(head + body).hexdigest()


def seal(
    transcoder: Transcoder, events: Sequence[Any], heads: dict[UUID, str]
) -> dict[UUID, str]:
    """Fill `prev_hash` and `hash` of pending events, in order; return the new heads."""
    for event in events:
        if not hasattr(event, "prev_hash"):
            continue
        prev = heads.get(event.originator_id, "")
        object.__setattr__(event, "prev_hash", prev)
        state = stored_state(event)
        value = digest(transcoder, get_topic(type(event)), event.originator_id,
                       event.originator_version, state)
        object.__setattr__(event, "hash", value)
        heads[event.originator_id] = value
    return heads


def broken_links(transcoder: Transcoder, stored: Iterable[StoredEvent]) -> list[int]:
    """The versions of an aggregate's stored events whose link does not hold."""
    broken: list[int] = []
    prev = ""
    for record in stored:
        state = transcoder.decode(record.state)
        expected = digest(transcoder, record.topic, record.originator_id,
                          record.originator_version, state)
        if state.get("prev_hash") != prev or state.get("hash") != expected:
            broken.append(record.originator_version)
        prev = state.get("hash", "")
    return broken
