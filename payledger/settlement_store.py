"""The settlement's store across the change that gave each party its own wallet.

Before it, a balance was keyed by the account of the sale that first credited it, so a
producer's account held its partners' and the platform's balances. Nothing was
released, so the change gives wallets new ids rather than migrating them: a settlement
store written before is refused (`refuse_outdated`) with one line naming
`payledger settlement reset`, which moves the store aside (SQLite files renamed;
PostgreSQL tables moved to a schema of their own), catches up again from the Ledger's
log, which holds every sale, and lists what only the old store held: bank accounts,
withdrawals and adjustments (docs/decisions/0001-wallets-per-party.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.persistence import Notification

from payledger.adapters.store import Store
from payledger.domain.errors import Unavailable
from payledger.settings import Settings

OPENED = "payledger:Balance.Opened"
DROPPED = {  # topic -> what the old store alone held
    "payledger:Balance.BankAccountChanged": "bank account",
    "payledger:Balance.WithdrawalRequested": "withdrawal",
    "payledger:Balance.Adjusted": "adjustment",
}
TABLES = ("settlement_events", "settlement_tracking", "settlement_due", "settlement_due_tracking",
          "settlement_timers", "settlement_timer_tracking")  # the last two: an older index


@dataclasses.dataclass(frozen=True)
class Dropped:
    """One thing the old store held that no log replays."""

    what: str
    party: str
    account: str  # the account that held the old balance
    at: str
    detail: str


@dataclasses.dataclass
class ResetReport:
    moved_to: str
    dropped: list[Dropped]
    processed: int = 0


def outdated(recorder: Any, decode: Any) -> bool:
    """Whether the store holds a balance of the old shape (no selling account)."""
    first = recorder.select_notifications(start=None, limit=1, topics=(OPENED,))
    return bool(first) and "selling_account" not in decode(first[0].state)


def refuse_outdated(recorder: Any, decode: Any, store: Store) -> None:
    if outdated(recorder, decode):
        where = store.path or f"schema {store.schema or 'public'}"
        raise Unavailable(f"the settlement store ({where}) holds balances keyed by the selling "
                          "account, from before each party had its own wallet: run "
                          "`payledger settlement reset`")


def dropped(recorder: Any, decode: Any) -> list[Dropped]:
    """What the old store held that the Ledger's log cannot give back."""
    parties: dict[Any, str] = {}
    found: list[Dropped] = []
    for notification in _all(recorder, (OPENED, *DROPPED)):
        state = decode(notification.state)
        if notification.topic == OPENED:
            parties[notification.originator_id] = state["party"]
            continue
        found.append(Dropped(
            what=DROPPED[notification.topic], party=parties.get(notification.originator_id, "?"),
            account=state.get("account", "?"), at=str(state.get("at", "")),
            detail=_detail(notification.topic, state)))
    return found


def _detail(topic: str, state: dict[str, Any]) -> str:
    if topic.endswith("BankAccountChanged"):
        bank = state["bank_account"]
        return f"{bank['bank']}/{bank['branch']}/{bank['number']} of {bank['holder_document']}"
    if topic.endswith("WithdrawalRequested"):
        return f"{state['withdrawal_id']}: {state['amount']} cents"
    return f"{state['amount']} cents: {state['reason']}"


def _all(recorder: Any, topics: tuple[str, ...]) -> Iterator[Notification]:
    start = None
    while page := recorder.select_notifications(start=start, limit=1000, topics=topics,
                                                inclusive_of_start=False):
        yield from page
        start = page[-1].id


def move_aside(settings: Settings, settlement: Store, stamp: str) -> str:
    """Rename the old store out of the way; say where it went."""
    if settlement.kind == "sqlite":
        assert settlement.path is not None
        timers = settings.store.derived_path("settlement", ".timers.db")
        for path in (settlement.path, timers):
            for extra in ("", "-wal", "-shm"):
                found = Path(f"{path}{extra}")
                if found.exists():
                    found.rename(f"{path}.before-wallets-{stamp}{extra}")
        return f"{settlement.path}.before-wallets-{stamp}"
    schema = settlement.schema or "public"
    aside = f"{schema}_before_wallets_{stamp}"
    with psycopg.connect(_dsn(settlement), autocommit=True) as conn, conn.transaction():
        conn.execute(f'CREATE SCHEMA "{aside}"')
        for table in TABLES:
            conn.execute(f'ALTER TABLE IF EXISTS "{schema}"."{table}" SET SCHEMA "{aside}"')
    return f"schema {aside}"


def _dsn(store: Store) -> str:
    password = f":{store.password}" if store.password else ""
    return f"postgresql://{store.user}{password}@{store.host}:{store.port}/{store.dbname}"


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S")

