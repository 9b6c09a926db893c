"""A store written before the event classes were typed still reads and verifies.

`tests/fixtures/stored_v1.jsonl.gz` holds whole aggregates of both logs, stored by the
code of commit 16a8f92 (see `tests/fixtures/select_stored.py`); `stored_v1.expected.json`
holds what that code read from them: each aggregate's version and status, and each
balance's figures. The rows go into a fresh store through the library's recorder, as
they were stored, byte for byte.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.settlement import Settlement

FIXTURES = Path(__file__).parent.parent / "fixtures"
BALANCE_FIGURES = ("pending", "available", "disputed", "in_flight", "withdrawn", "reserved")


def stored_rows() -> dict[str, list[StoredEvent]]:
    logs: dict[str, list[StoredEvent]] = {"payledger": [], "settlement": []}
    with gzip.open(FIXTURES / "stored_v1.jsonl.gz", "rt", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            logs[row["log"]].append(StoredEvent(
                originator_id=UUID(row["originator_id"]), originator_version=row["version"],
                topic=row["topic"], state=row["state"].encode()))
    return logs


def observed(aggregate: Any) -> dict[str, Any]:
    seen: dict[str, Any] = {"version": aggregate.version, "status": str(aggregate.status)}
    if type(aggregate).__name__ == "Balance":
        seen.update({name: getattr(aggregate, name) for name in BALANCE_FIGURES})
    return seen


@pytest.fixture
def apps(store_url: str) -> Iterator[tuple[Ledger, Settlement]]:
    ledger = Ledger(Settings(store_url=store_url))
    settlement = Settlement(ledger.settings, ledger=ledger)
    rows = stored_rows()
    ledger.recorder.insert_events(rows["payledger"])
    settlement.recorder.insert_events(rows["settlement"])
    yield ledger, settlement
    settlement.close()
    ledger.close()


def test_a_store_written_before_typed_events_reads_and_verifies(
    apps: tuple[Ledger, Settlement],
) -> None:
    expected = json.loads((FIXTURES / "stored_v1.expected.json").read_text())
    rows = stored_rows()
    seen: dict[str, dict[str, Any]] = {}
    for log, app in zip(("payledger", "settlement"), apps, strict=True):
        for aggregate_id in dict.fromkeys(row.originator_id for row in rows[log]):
            assert app.broken_links(aggregate_id) == [], aggregate_id
            seen[aggregate_id.hex] = observed(app.repository.get(aggregate_id))
    assert len(seen) == len(expected) > 80
    assert seen == expected
