"""docs/events.md names every event and every field the code stores."""

from pathlib import Path

import pytest

from payledger.catalogue import events
from payledger.domain.envelope import ENVELOPE_FIELDS

DOC = (Path(__file__).parents[2] / "docs" / "events.md").read_text()
ROWS = {line.split("|")[1].strip(" `"): line for line in DOC.splitlines()
        if line.startswith("| `payledger:")}


@pytest.mark.parametrize(("topic", "fields"), list(events()))
def test_every_event_and_field_is_documented(topic: str, fields: list[tuple[str, str]]) -> None:
    assert topic in ROWS, f"{topic} missing from docs/events.md"
    for name, _ in fields:
        assert f"`{name}`" in ROWS[topic], f"{topic}.{name} missing from docs/events.md"


def test_envelope_is_documented() -> None:
    for name in (*ENVELOPE_FIELDS, "class_version"):
        assert f"| `{name}` |" in DOC
