"""The store contract: one suite, run on a SQLite file and on PostgreSQL (DESIGN.md §2-4).

Every test that takes `ledger` (or `store_url`) runs once per backend; the tests at the
end are about URLs that never reach a working store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from payledger.adapters.chain import broken_links
from payledger.domain import commands as c
from payledger.domain.errors import Conflict, NotFound, Unavailable, ValidationError
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.domain.refund import Refund
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.settings import Settings
from tests import factories as f
from tests.principals import GATEWAY

PRICE = 10_000
REFUND = 4_000


# -- helpers ------------------------------------------------------------------------


def notifications(ledger: Ledger) -> list[Any]:
    """Every event in the store, in the order it was recorded."""
    return list(ledger.recorder.select_notifications(start=None, limit=100_000))


def stored(ledger: Ledger, aggregate_id: UUID) -> list[tuple[int, str, dict[str, Any]]]:
    transcoder = ledger.mapper.transcoder
    return [(s.originator_version, s.topic, transcoder.decode(s.state))
            for s in ledger.stored_events(aggregate_id)]


def state_of(aggregate: Any) -> dict[str, Any]:
    """An aggregate's attributes, without the library's pending-event buffer."""
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def paid_invoice(ledger: Ledger, checkout: Actor, **extra: Any) -> UUID:
    invoice_id = ledger.execute(checkout, f.create_invoice(price=PRICE, **extra)).aggregate_id
    ledger.execute(checkout, c.RequestCharge(invoice_id=invoice_id))
    ledger.execute(GATEWAY, c.ApproveCard(invoice_id=invoice_id, authorization_code="AUTH-1"))
    return invoice_id


def lifecycle(ledger: Ledger, owner: Actor, checkout: Actor) -> tuple[UUID, UUID]:
    """Create, charge, approve, then a partial refund requested, approved, sent, succeeded."""
    invoice_id = paid_invoice(ledger, checkout)
    refund_id = ledger.execute(checkout, f.request_refund(invoice_id, REFUND)).aggregate_id
    ledger.execute(owner, c.ApproveRefund(refund_id=refund_id))
    ledger.execute(GATEWAY, c.SendRefund(refund_id=refund_id, gateway_reference="GW-1"))
    ledger.execute(GATEWAY, c.SucceedRefund(refund_id=refund_id))
    return invoice_id, refund_id


def sibling_url(store_url: str, tmp_path: Path) -> str:
    """Another store of the same kind: a second SQLite file, or a second schema."""
    if store_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path}/other/events.db"
    parts = urlsplit(store_url)
    query = parse_qs(parts.query)
    query["schema"] = [f"t_{uuid.uuid4().hex[:12]}"]
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))


@pytest.fixture
def other_url(store_url: str, tmp_path: Path) -> Iterator[str]:
    url = sibling_url(store_url, tmp_path)
    yield url
    store = Settings(store_url=url).store
    if store.kind == "postgres":
        with psycopg.connect(host=store.host, port=store.port, user=store.user,
                             dbname=store.dbname, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{store.schema}" CASCADE')


# -- the contract -------------------------------------------------------------------


def test_lifecycle_round_trip(
    ledger: Ledger, store_url: str, owner: Actor, checkout: Actor, clock: SimulatedClock
) -> None:
    invoice_id, refund_id = lifecycle(ledger, owner, checkout)

    invoice = ledger.get(owner, Invoice, invoice_id)
    assert invoice.status == "partially_refunded"
    assert (invoice.paid, invoice.refunded, invoice.reserved) == (PRICE, REFUND, {})
    assert invoice.refundable == PRICE - REFUND
    assert sum(part["amount"] for part in invoice.splits) == PRICE
    assert invoice.version == 5  # created, charge requested, paid, reserved, refunded
    refund = ledger.get(owner, Refund, refund_id)
    assert (refund.status, refund.amount, refund.gateway_reference) == ("succeeded", REFUND, "GW-1")
    assert refund.settled_at == clock.now()
    assert refund.version == 4  # requested, approved, pending, succeeded

    again = Ledger(Settings(store_url=store_url), clock=clock)
    try:
        for kind, aggregate_id in ((Invoice, invoice_id), (Refund, refund_id)):
            first, second = ledger.load(kind, aggregate_id), again.load(kind, aggregate_id)
            assert state_of(second) == state_of(first)
            assert stored(again, aggregate_id) == stored(ledger, aggregate_id)
        assert [n.id for n in notifications(again)] == [n.id for n in notifications(ledger)]
        assert len(notifications(again)) == 5 + 4
    finally:
        again.close()


def test_every_event_carries_the_envelope(ledger: Ledger, owner: Actor, checkout: Actor) -> None:
    invoice_id, refund_id = lifecycle(ledger, owner, checkout)
    approve = stored(ledger, refund_id)[1][2]
    assert approve["actor"] == owner.id
    for aggregate_id in (invoice_id, refund_id):
        for _, topic, state in stored(ledger, aggregate_id):
            assert topic.startswith("payledger:")
            assert state["account"] == "acct-1"
            assert state["class_version"] >= 1
            assert {"at", "actor", "correlation_id", "causation_id", "command_id"} <= set(state)


def test_hash_chain_intact(ledger: Ledger, owner: Actor, checkout: Actor) -> None:
    invoice_id, refund_id = lifecycle(ledger, owner, checkout)
    for aggregate_id in (invoice_id, refund_id):
        assert ledger.broken_links(aggregate_id) == []
        events = stored(ledger, aggregate_id)
        assert [version for version, _, _ in events] == list(range(1, len(events) + 1))
        previous = ""
        for _, _, state in events:
            assert state["prev_hash"] == previous
            assert len(state["hash"]) == 64
            previous = state["hash"]
        assert ledger.load(Invoice if aggregate_id == invoice_id else Refund,
                           aggregate_id).chain_head == previous


def test_hash_chain_detects_tampering(ledger: Ledger, checkout: Actor) -> None:
    invoice_id = paid_invoice(ledger, checkout)
    records = list(ledger.stored_events(invoice_id))
    transcoder = ledger.mapper.transcoder
    state = transcoder.decode(records[1].state)
    state["reason"] = "forged"
    forged = StoredEvent(originator_id=records[1].originator_id,
                         originator_version=records[1].originator_version,
                         topic=records[1].topic, state=transcoder.encode(state))
    assert broken_links(transcoder, [records[0], forged, records[2]]) == [2]
    assert broken_links(transcoder, [records[0], records[2]]) == [3]  # a deleted link


def test_idempotent_repeat_writes_nothing(ledger: Ledger, checkout: Actor) -> None:
    command = f.create_invoice(idempotency_key="order-42")
    first = ledger.execute(checkout, command)
    assert not first.repeated
    before = notifications(ledger)

    again = ledger.execute(checkout, f.create_invoice(idempotency_key="order-42"))

    assert again.repeated
    assert (again.aggregate_id, again.command_id, again.events) == (
        first.aggregate_id, first.command_id, first.events)
    assert notifications(ledger) == before
    with pytest.raises(Conflict, match="order-42"):
        ledger.execute(checkout, f.create_invoice(price=1, idempotency_key="order-42"))
    assert notifications(ledger) == before


def test_idempotent_repeat_from_a_new_ledger(
    ledger: Ledger, store_url: str, checkout: Actor, clock: SimulatedClock
) -> None:
    invoice_id = paid_invoice(ledger, checkout)
    command = f.request_refund(invoice_id, 100, idempotency_key="refund-1")
    first = ledger.execute(checkout, command)
    before = notifications(ledger)
    other = Ledger(Settings(store_url=store_url), clock=clock)
    try:
        again = other.execute(checkout, command)
    finally:
        other.close()
    assert again.repeated
    assert again.aggregate_id == first.aggregate_id
    assert notifications(ledger) == before
    assert ledger.load(Invoice, invoice_id).refundable == PRICE - 100


def test_two_stores_never_share_state(
    ledger: Ledger, other_url: str, checkout: Actor, clock: SimulatedClock
) -> None:
    other = Ledger(Settings(store_url=other_url), clock=clock)
    try:
        assert notifications(other) == []
        here = paid_invoice(ledger, checkout)
        assert notifications(other) == []
        with pytest.raises(NotFound):
            other.load(Invoice, here)

        there = other.execute(checkout, f.create_invoice()).aggregate_id
        with pytest.raises(NotFound):
            ledger.load(Invoice, there)
        assert len(notifications(ledger)) == 3
        assert len(notifications(other)) == 1
        # the same id in both stores is two different invoices
        same = uuid.uuid4()
        here_id = ledger.execute(checkout, f.create_invoice(invoice_id=same, price=111))
        there_id = other.execute(checkout, f.create_invoice(invoice_id=same, price=222))
        assert ledger.load(Invoice, here_id.aggregate_id).total == 111
        assert other.load(Invoice, there_id.aggregate_id).total == 222
    finally:
        other.close()


def test_derived_files_live_beside_the_store(store_url: str, other_url: str) -> None:
    store = Settings(store_url=store_url).store
    derived = store.derived_path("readmodels", ".duckdb")
    assert derived.suffix == ".duckdb"
    assert derived == Settings(store_url=store_url).store.derived_path("readmodels", ".duckdb")
    assert derived != Settings(store_url=other_url).store.derived_path("readmodels", ".duckdb")
    assert derived != store.derived_path("policy", ".db")
    assert derived.parent == store.data_dir
    if store.kind == "sqlite":
        assert store.path is not None
        assert derived == store.path.parent / "events.readmodels.duckdb"
    else:
        assert store.dbname in derived.parent.name
        assert store.schema in derived.parent.name


# -- URLs that never reach a working store ----------------------------------------------


@pytest.mark.parametrize("url", [
    "postgresql://postgres@127.0.0.1:1/test?schema=nobody_here",
    "postgresql://postgres@127.0.0.1:1/test",
])
def test_closed_port_is_unavailable(url: str) -> None:
    started = time.monotonic()
    with pytest.raises(Unavailable, match=r"^PostgreSQL at 127\.0\.0\.1:1: "):
        Ledger(Settings(store_url=url))
    assert time.monotonic() - started < 4  # refused at once, not a pool's timeout


@pytest.mark.parametrize("url", [
    "mysql://root@127.0.0.1/test",
    "sqlite:///",
    "events.db",
    "postgresql://postgres@127.0.0.1:5432/",
    "postgresql://postgres@127.0.0.1:5432/test?schema=Bad-Name",
])
def test_bad_url_is_a_validation_error_naming_store(url: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(store_url=url).store  # noqa: B018
    assert raised.value.field == "store"
    with pytest.raises(ValidationError, match=r"^store: "):
        Ledger(Settings(store_url=url))
