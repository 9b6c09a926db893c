"""The tamper-evident chain: each event stores its predecessor's hash and its own.

An event's hash is SHA-256 over its topic, aggregate id, version and its stored state
(with the hash field itself left empty), in the JSON the library's transcoder writes.
It is computed by the mapper when the event is stored, because only then is its place
known, and written into the stored bytes only (the event object stays as it was made).
Verification decodes what is stored and hashes it again, so it checks the bytes that
were stored, not an upcast reading of them.

An event's `prev_hash` is set when it is triggered if its aggregate had nothing pending
(the aggregate's chain head, read from the store); the mapper links an event whose
predecessor it encoded in the same save to the hash it computed for it, which it
remembers per thread for the duration of one save (`LedgerMapper.saving`), so events
collected from one aggregate in several turns of one save still chain.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

EMPTY_HASH = b'"hash":""'


class ChainError(RuntimeError):
    """An event could not be linked to its predecessor (a programming error)."""


class LedgerMapper(Mapper[UUID]):
    """The library's mapper, sealing the chain as it encodes; it always stores
    `class_version`, even 1, and encodes each event once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._local = threading.local()

    @contextmanager
    def saving(self) -> Iterator[dict[UUID, tuple[int, str]]]:
        """Scope of one save: the hashes computed in it, by aggregate id, as
        (version, hash); forgotten afterwards, so a retried save never links to an
        event a rolled-back transaction wrote."""
        heads: dict[UUID, tuple[int, str]] = {}
        outer = getattr(self._local, "heads", None)
        self._local.heads = heads
        try:
            yield heads
        finally:
            self._local.heads = outer

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        topic = get_topic(type(domain_event))
        state = stored_state(domain_event)
        if "hash" in state:
            data = self._sealed(topic, domain_event, state)
        else:
            data = self.transcoder.encode(state)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=topic,
            state=self._protect(data),
        )

    def _sealed(self, topic: str, event: DomainEventProtocol[UUID], state: dict[str, Any]) -> bytes:
        aggregate_id, version = event.originator_id, event.originator_version
        heads: dict[UUID, tuple[int, str]] | None = getattr(self._local, "heads", None)
        state["prev_hash"] = self._prev_hash(state["prev_hash"], aggregate_id, version, heads)
        state["hash"] = ""
        body = self.transcoder.encode(state)
        value = _hash(topic, aggregate_id, version, body)
        if heads is not None:
            heads[aggregate_id] = (version, value)
        return _with_hash(body, value)

    @staticmethod
    def _prev_hash(
        given: str, aggregate_id: UUID, version: int, heads: dict[UUID, tuple[int, str]] | None
    ) -> str:
        known = heads.get(aggregate_id) if heads is not None else None
        if known is not None and known[0] == version - 1:
            return known[1]  # the predecessor was encoded in this save, just before
        if given or version == 1:
            return given
        raise ChainError(f"event {version} of {aggregate_id} has no predecessor in this save")

    def _protect(self, data: bytes) -> bytes:
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


def _hash(topic: str, originator_id: UUID | str, version: int, body: bytes) -> str:
    """SHA-256 over topic, aggregate id, version and the state encoded with "hash" empty."""
    key = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
    return hashlib.sha256(f"{topic}\n{key.hex}\n{version}\n".encode() + body).hexdigest()


def _with_hash(body: bytes, value: str) -> bytes:
    """`body` with its top-level `"hash":""` filled. The envelope's fields come before
    the domain's in every event, so the first occurrence is the envelope's."""
    return body.replace(EMPTY_HASH, b'"hash":"' + value.encode() + b'"', 1)


def digest(
    transcoder: Transcoder, topic: str, originator_id: UUID | str, version: int,
    state: dict[str, Any],
) -> str:
    return _hash(topic, originator_id, version, transcoder.encode({**state, "hash": ""}))


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
