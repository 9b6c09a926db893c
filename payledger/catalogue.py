"""The event catalogue, read off the aggregate classes (docs/events.md follows it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from payledger.bootstrap import aggregates
from payledger.domain.envelope import ENVELOPE_FIELDS

LIBRARY_FIELDS = ("originator_id", "originator_version", "timestamp", "originator_topic")


def events() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """(topic, [(field, type), ...]) of every event, without the envelope's fields."""
    for aggregate in aggregates():
        for value in vars(aggregate).values():
            topic = getattr(value, "TOPIC", None)
            if not isinstance(value, type) or not topic or value is aggregate:
                continue
            fields = [(f.name, str(f.type)) for f in dataclasses.fields(value)
                      if f.name not in ENVELOPE_FIELDS and f.name not in LIBRARY_FIELDS]
            yield topic, fields
