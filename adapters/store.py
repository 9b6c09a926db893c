"""From a store URL to the `eventsourcing` library's own recorders (DESIGN.md §2).

`sqlite:///path/events.db` (the embedded default) and `postgresql://user@host:port/db`
(production; `?schema=NAME` keeps installations apart in one database) become the
library's environment. Every other file of an installation (read models, a policy's
own SQLite store) is derived from the same URL, so one `--store` names it all.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from payledger.domain.errors import Unavailable, ValidationError

DEFAULT_STORE_URL = "sqlite:///./payledger-data/events.db"
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Store:
    """A parsed store URL."""

    url: str
    kind: str  # "sqlite" or "postgres"
    path: Path | None = None
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    dbname: str = ""
    schema: str = ""

    @property
    def data_dir(self) -> Path:
        """The folder that holds every file derived from this store."""
        if self.path is not None:
            return self.path.parent
        tag = hashlib.sha256(self.url.encode()).hexdigest()[:10]
        return Path("payledger-data") / f"pg-{self.dbname}-{self.schema or 'public'}-{tag}"

    def derived_path(self, purpose: str, suffix: str) -> Path:
        """e.g. `derived_path("readmodels", ".duckdb")` beside `events.db`."""
        stem = self.path.stem if self.path is not None else "store"
        return self.data_dir / f"{stem}.{purpose}{suffix}"

    def env(self, name: str) -> dict[str, str]:
        """The library's settings for an application called `name` on this store."""
        if self.kind == "sqlite":
            assert self.path is not None
            make_folder(self.path.parent)
            return {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                    "SQLITE_DBNAME": str(self.path), "SQLITE_LOCK_TIMEOUT": "30",
                    "CREATE_TABLE": "y"}
        env = {"PERSISTENCE_MODULE": "eventsourcing.postgres",
               "POSTGRES_DBNAME": self.dbname, "POSTGRES_HOST": self.host,
               "POSTGRES_PORT": str(self.port), "POSTGRES_USER": self.user,
               "POSTGRES_PASSWORD": self.password, "POSTGRES_CONNECT_TIMEOUT": "5",
               "POSTGRES_ENABLE_DB_FUNCTIONS": "n", "CREATE_TABLE": "y"}
        if self.schema:
            env["POSTGRES_SCHEMA"] = self.schema
        return {f"{name.upper()}_{key}": value for key, value in env.items()}


def make_folder(folder: Path) -> None:
    """The folder of a store's file, made when missing; a folder that cannot be made is
    one typed error naming it, not a traceback."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise Unavailable(f"cannot make the store's folder {folder}: "
                          f"{error.strerror or error}") from None


def parse_store_url(url: str) -> Store:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        raw = unquote(parts.path)
        if not raw.startswith("/") or raw == "/":
            raise ValidationError("store", "write sqlite:///relative/path or sqlite:////abs/path")
        return Store(url=url, kind="sqlite", path=Path(raw[1:]))
    if parts.scheme in ("postgresql", "postgres"):
        return _postgres(url, parts.hostname, parts.port, parts.username, parts.password,
                         parts.path, parts.query)
    raise ValidationError("store", f"unsupported scheme {parts.scheme!r} (sqlite or postgresql)")


def _postgres(
    url: str, host: str | None, port: int | None, user: str | None,
    password: str | None, path: str, query: str,
) -> Store:
    dbname = path.lstrip("/")
    if not dbname:
        raise ValidationError("store", "a postgresql URL names its database: postgresql://.../DB")
    schema = parse_qs(query).get("schema", [""])[0]
    if schema and not SCHEMA_NAME.match(schema):
        raise ValidationError("store", f"schema {schema!r} is not a plain lower-case name")
    return Store(url=url, kind="postgres", host=host or "127.0.0.1", port=port or 5432,
                 user=unquote(user or "postgres"), password=unquote(password or ""),
                 dbname=dbname, schema=schema)


@contextmanager
def creating_tables(store: Store) -> Iterator[None]:
    """Create the URL's schema, and hold a PostgreSQL advisory lock while the library
    creates an application's tables inside the block.

    The library runs its DDL (including CREATE OR REPLACE FUNCTION) each time an
    application starts, and PostgreSQL does not lock a function's DDL: two processes
    starting at once on one store failed with "tuple concurrently updated" (and two
    CREATE SCHEMA IF NOT EXISTS at once can collide too). With this lock they take
    turns. On SQLite, see `_use_wal`.
    """
    if store.kind == "sqlite":
        _use_wal(store)
        yield
        return
    import psycopg

    name = f"payledger-ddl:{store.dbname}:{store.schema or 'public'}"
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    try:
        conn = psycopg.connect(host=store.host, port=store.port, user=store.user,
                               password=store.password or None, dbname=store.dbname,
                               connect_timeout=5, autocommit=True)
    except psycopg.OperationalError as error:
        raise Unavailable(f"PostgreSQL at {store.host}:{store.port}: {error}") from None
    with conn:  # closing the session releases the lock
        try:
            conn.execute("SET lock_timeout = '30s'")
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            if store.schema:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{store.schema}"')
        except psycopg.OperationalError as error:
            raise Unavailable(f"PostgreSQL at {store.host}:{store.port}: {error}") from None
        yield


def _use_wal(store: Store, patience: float = 30.0) -> None:
    """Put a SQLite file in WAL mode before the library opens it.

    The library switches a file to WAL on its first connection, and that switch does
    not wait for a busy file: processes opening a new store at once failed with a raw
    `sqlite3.OperationalError: database is locked`. WAL mode is kept by the file, so
    once set the library only reads it.
    """
    assert store.path is not None
    make_folder(store.path.parent)
    deadline = time.monotonic() + patience
    pause = 0.005
    while True:
        try:
            conn = sqlite3.connect(store.path, timeout=patience)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
            finally:
                conn.close()
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise Unavailable(f"SQLite store {store.path}: {error}") from None
        time.sleep(pause)  # another process holds the file for its own switch
        pause = min(pause * 2, 0.2)
