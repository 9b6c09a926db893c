"""Shared fixtures: stores on a SQLite file and on PostgreSQL, actors, a clock.

PostgreSQL tests skip with the reason when the server is unreachable, and fail
instead when PAYLEDGER_REQUIRE_SERVICES=1 (CI sets it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from payledger.domain.permissions import Actor
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.settings import Settings

PG_DSN = os.environ.get("PAYLEDGER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def postgres_reason() -> str | None:
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3):
            return None
    except psycopg.OperationalError as error:
        return f"PostgreSQL unreachable at {PG_DSN}: {error}".splitlines()[0]


def need_postgres() -> None:
    reason = postgres_reason()
    if reason is None:
        return
    if os.environ.get("PAYLEDGER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"PAYLEDGER_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL store URL with a schema of its own, dropped afterwards."""
    need_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield f"{PG_DSN}?schema={schema}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/events.db"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    """One contract, every backend."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return request.getfixturevalue(name)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START)


@pytest.fixture
def ledger(store_url: str, clock: SimulatedClock) -> Iterator[Ledger]:
    app = Ledger(Settings(store_url=store_url), clock=clock)
    yield app
    app.close()


@pytest.fixture
def sqlite_ledger(sqlite_url: str, clock: SimulatedClock) -> Iterator[Ledger]:
    app = Ledger(Settings(store_url=sqlite_url), clock=clock)
    yield app
    app.close()


@pytest.fixture
def owner() -> Actor:
    return Actor.preset("owner", id="owner-1", account="acct-1")


@pytest.fixture
def checkout() -> Actor:
    return Actor.platform("checkout", id="checkout", account="acct-1")
