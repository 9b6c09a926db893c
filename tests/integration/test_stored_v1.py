"""A store written before the event classes were typed still reads and verifies; its
settlement store, from before each party had its own wallet, is refused and reset.

`tests/fixtures/stored_v1.jsonl.gz` holds whole aggregates of both logs, stored by the
code of commit 16a8f92 (see `tests/fixtures/select_stored.py`); `stored_v1.expected.json`
holds what that code read from them: each aggregate's version and status, and each
balance's figures. The rows go into a fresh store through the library's recorder, as
they were stored, byte for byte.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from payledger.cli.main import main
from payledger.domain.balance import Balance
from payledger.domain.errors import Unavailable, ValidationError
from payledger.domain.invoice import Invoice
from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.settlement import Settlement, reset_settlement

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
    """The fixture's rows in a fresh store; the settlement opened without its check,
    as only the reset opens one."""
    ledger = Ledger(Settings(store_url=store_url))
    settlement = Settlement(ledger.settings, ledger=ledger, check_store=False)
    rows = stored_rows()
    ledger.recorder.insert_events(rows["payledger"])
    settlement.recorder.insert_events(rows["settlement"])
    yield ledger, settlement
    settlement.close()
    ledger.close()


def test_the_ledger_log_written_before_typed_events_reads_and_verifies(
    apps: tuple[Ledger, Settlement],
) -> None:
    """Every aggregate reads as it did; every event's actor kind reads as `legacy`
    (version-1 events, upcast); both logs' chains verify byte for byte."""
    ledger, settlement = apps
    expected = json.loads((FIXTURES / "stored_v1.expected.json").read_text())
    rows = stored_rows()
    seen: dict[str, dict[str, Any]] = {}
    for aggregate_id in dict.fromkeys(row.originator_id for row in rows["payledger"]):
        assert ledger.broken_links(aggregate_id) == [], aggregate_id
        seen[aggregate_id.hex] = observed(ledger.repository.get(aggregate_id))
        events = ledger.events.get(aggregate_id)
        assert {(e.actor_kind, e.actor_role) for e in events} == {("legacy", "")}
    for aggregate_id in dict.fromkeys(row.originator_id for row in rows["settlement"]):
        assert settlement.broken_links(aggregate_id) == [], aggregate_id
    ledger_expected = {key: value for key, value in expected.items()
                       if "pending" not in value}  # the balances' figures: refused below
    assert len(seen) == len(ledger_expected) > 80
    assert seen == ledger_expected


def test_a_settlement_store_from_before_wallets_is_refused_naming_the_reset(
    apps: tuple[Ledger, Settlement],
) -> None:
    ledger, _ = apps
    with pytest.raises(Unavailable) as refused:
        Settlement(ledger.settings, ledger=ledger)
    message = str(refused.value)
    assert "payledger settlement reset" in message
    assert "\n" not in message


def test_the_reset_moves_the_old_store_aside_and_credits_every_party_again(
    apps: tuple[Ledger, Settlement],
) -> None:
    ledger, old = apps
    ids = dict.fromkeys(row.originator_id for row in stored_rows()["payledger"])
    paid = sum(sum(split["amount"] for split in event.splits) for aggregate_id in ids
               for event in ledger.events.get(aggregate_id) if isinstance(event, Invoice.Paid))
    old.close()
    report = reset_settlement(ledger.settings)
    assert Counter(item.what for item in report.dropped) == {
        "bank account": 6, "withdrawal": 30, "adjustment": 1}
    settlement = Settlement(ledger.settings, ledger=ledger)
    try:
        wallets = list(settlement.balances())
        assert report.processed > 0
        assert wallets
        assert {b.account for b in wallets} == {b.party for b in wallets}  # each its party's
        moved = [e for b in wallets for e in settlement.events.get(b.id)
                 if isinstance(e, Balance.Credited | Balance.Debited)]
        credited = sum(e.amount for e in moved if isinstance(e, Balance.Credited))
        assert credited == paid
        assert all(e.source_account and e.role for e in moved)
    finally:
        settlement.close()
    with pytest.raises(ValidationError) as again:
        reset_settlement(ledger.settings)
    assert again.value.field == "store"


def test_the_reset_command_says_where_the_old_store_went_and_what_it_dropped(
    apps: tuple[Ledger, Settlement], capsys: pytest.CaptureFixture[str],
) -> None:
    ledger, old = apps
    old.close()
    assert main(["settlement", "reset", "--store", ledger.settings.store_url]) == 0
    out = capsys.readouterr().out
    assert "settlement store moved to" in out
    assert "before-wallets" in out or "before_wallets" in out
    assert "withdrawal" in out
    assert "adjustment" in out
    assert main(["settlement", "reset", "--store", ledger.settings.store_url]) == 1
    assert "nothing to reset" in capsys.readouterr().err
