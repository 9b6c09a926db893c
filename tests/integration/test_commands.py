"""Commands through the Ledger on a SQLite file: idempotency, authorization, bad input,
the envelope on every stored event, and the hash chain catching a tampered row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from payledger.adapters.chain import digest
from payledger.domain import commands as c
from payledger.domain.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationError,
)
from payledger.domain.idempotency import IdempotencyRecord
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.ledger import Ledger
from tests import factories as f
from tests.principals import GATEWAY, platform_for

ENVELOPE = ("account", "at", "actor", "actor_kind", "actor_role", "correlation_id",
            "causation_id", "command_id", "class_version", "prev_hash", "hash")


def written(ledger: Ledger) -> int:
    """How many events the store holds (the last notification id)."""
    return ledger.recorder.max_notification_id() or 0


def decoded(ledger: Ledger, aggregate_id: UUID) -> list[tuple[int, str, dict[str, Any]]]:
    transcoder = ledger.mapper.transcoder
    return [(s.originator_version, s.topic, transcoder.decode(s.state))
            for s in ledger.stored_events(aggregate_id)]


def refused_without_writing(ledger: Ledger, error: type[Exception],
                            call: Callable[[], object]) -> Any:
    before = written(ledger)
    with pytest.raises(error) as caught:
        call()
    assert written(ledger) == before
    return caught.value


def paid_invoice(ledger: Ledger, checkout: Actor) -> UUID:
    invoice_id = ledger.execute(checkout, f.create_invoice()).aggregate_id
    ledger.execute(checkout, c.RequestCharge(invoice_id=invoice_id))
    ledger.execute(GATEWAY, c.ApproveCard(invoice_id=invoice_id, authorization_code="AUTH-1"))
    return invoice_id


# -- idempotency -------------------------------------------------------------------------


def test_a_repeated_key_returns_the_first_receipt_and_writes_nothing(sqlite_ledger, checkout):
    first = sqlite_ledger.execute(checkout, f.create_invoice(idempotency_key="sale-1"))
    assert first.repeated is False
    assert first.events == 2  # the invoice's Created and the key's record
    before = written(sqlite_ledger)
    # a fresh command object with the same body; its metadata may differ
    again = sqlite_ledger.execute(checkout, f.create_invoice(
        idempotency_key="sale-1", correlation_id=uuid4()))
    assert (again.aggregate_id, again.command_id, again.events, again.repeated) == (
        first.aggregate_id, first.command_id, first.events, True)
    assert written(sqlite_ledger) == before
    assert len(decoded(sqlite_ledger, first.aggregate_id)) == 1


def test_a_repeated_key_on_an_invoice_command_charges_once(sqlite_ledger, checkout):
    invoice_id = sqlite_ledger.execute(checkout, f.create_invoice()).aggregate_id
    charge = c.RequestCharge(invoice_id=invoice_id, idempotency_key="charge-1")
    first = sqlite_ledger.execute(checkout, charge)
    again = sqlite_ledger.execute(checkout, charge)
    assert (again.aggregate_id, again.command_id, again.repeated) == (
        invoice_id, first.command_id, True)
    assert sqlite_ledger.load(Invoice, invoice_id).attempts == 1


@pytest.mark.parametrize(
    "other",
    [
        lambda: f.create_invoice(price=10_001, idempotency_key="sale-1"),
        lambda: f.create_invoice(method="pix", idempotency_key="sale-1"),
        lambda: c.RequestCharge(invoice_id=uuid4(), idempotency_key="sale-1"),
    ],
    ids=["other price", "other method", "other command"],
)
def test_a_key_reused_for_another_request_is_a_conflict(sqlite_ledger, checkout, other):
    sqlite_ledger.execute(checkout, f.create_invoice(idempotency_key="sale-1"))
    error = refused_without_writing(sqlite_ledger, Conflict,
                                    lambda: sqlite_ledger.execute(checkout, other()))
    assert "sale-1" in str(error)


def test_keys_belong_to_their_account(sqlite_ledger, checkout):
    elsewhere = Actor.platform("checkout", id="checkout", account="acct-2")
    first = sqlite_ledger.execute(checkout, f.create_invoice(idempotency_key="sale-1"))
    other = sqlite_ledger.execute(elsewhere, f.create_invoice(idempotency_key="sale-1"))
    assert other.repeated is False
    assert other.aggregate_id != first.aggregate_id
    record_ids = {IdempotencyRecord.create_id(a, "sale-1") for a in ("acct-1", "acct-2")}
    assert len(record_ids) == 2
    for record_id in record_ids:
        assert sqlite_ledger.load(IdempotencyRecord, record_id).key == "sale-1"


# -- authorization -------------------------------------------------------------------------


PLATFORM_ONLY = "runs for platform principals only"
ACCOUNT_ONLY = "runs for account principals only"


@pytest.mark.parametrize(
    ("make", "role", "command", "refusal"),
    [
        # an account principal, on a command of its kind, without the permission
        (Actor.preset, "technical", lambda invoice_id: c.VoidInvoice(
            invoice_id=invoice_id, reason="x"), "needs permission 'request_refunds'"),
        (Actor.preset, "support", lambda invoice_id: c.ApproveRefund(refund_id=uuid4()),
         "needs permission 'manage_refunds'"),
        (Actor.preset, "affiliate_manager", lambda invoice_id: f.request_refund(invoice_id),
         "needs permission 'request_refunds'"),
        # a platform principal, on a command of its kind, without the permission
        (Actor.platform, "gateway", lambda invoice_id: f.create_invoice(),
         "needs permission 'sell'"),
        (Actor.platform, "operator", lambda invoice_id: c.VoidInvoice(
            invoice_id=invoice_id, reason="x"), "needs permission 'sell'"),
        (Actor.platform, "scheduler", lambda invoice_id: f.request_refund(invoice_id),
         "needs permission 'request_refunds'"),
        (Actor.platform, "checkout", lambda invoice_id: c.ApproveCard(
            invoice_id=invoice_id, authorization_code="A"), "needs permission 'record_payments'"),
        # a principal of a kind the command never runs for, whatever it holds
        (Actor.preset, "owner", lambda invoice_id: f.create_invoice(), PLATFORM_ONLY),
        (Actor.preset, "financial", lambda invoice_id: c.RequestCharge(invoice_id=invoice_id),
         PLATFORM_ONLY),
        (Actor.platform, "checkout", lambda invoice_id: c.ApproveRefund(refund_id=uuid4()),
         ACCOUNT_ONLY),
    ],
)
def test_a_command_without_its_permission_is_forbidden(
    sqlite_ledger, checkout, make, role, command, refusal
):
    invoice_id = sqlite_ledger.execute(checkout, f.create_invoice()).aggregate_id
    actor = make(role, id=f"{role}-1", account="acct-1")
    cmd = command(invoice_id)
    error = refused_without_writing(sqlite_ledger, Forbidden,
                                    lambda: sqlite_ledger.execute(actor, cmd))
    assert (error.actor, error.action) == (f"{role}-1", type(cmd).__name__)
    assert str(error).endswith(refusal)


@pytest.mark.parametrize("name", ["correlation_id", "causation_id"])
def test_only_a_platform_principal_passes_a_conversations_ids(
    sqlite_ledger, checkout, owner, name
):
    invoice_id = sqlite_ledger.execute(checkout, f.create_invoice()).aggregate_id
    voiding = c.VoidInvoice(invoice_id=invoice_id, reason="test order", **{name: uuid4()})
    error = refused_without_writing(sqlite_ledger, Forbidden,
                                    lambda: sqlite_ledger.execute(owner, voiding))
    assert (error.actor, error.action) == ("owner-1", "VoidInvoice")
    assert name in str(error)
    assert sqlite_ledger.execute(checkout, voiding).events == 1
    assert sqlite_ledger.load(Invoice, invoice_id).status == "void"


def test_an_actor_of_another_account_cannot_touch_an_invoice(sqlite_ledger, checkout, owner):
    invoice_id = paid_invoice(sqlite_ledger, checkout)
    intruder = Actor.preset("owner", id="owner-2", account="acct-2")
    their_gateway = Actor.platform("gateway", id="gateway", account="acct-2")
    their_checkout = Actor.platform("checkout", id="checkout", account="acct-2")
    for actor, command in (
        (intruder, c.VoidInvoice(invoice_id=invoice_id, reason="mine now")),
        (their_gateway, c.OpenDispute(invoice_id=invoice_id, reason="x",
                                      respond_by=datetime(2027, 1, 1, tzinfo=UTC))),
        (intruder, f.request_refund(invoice_id)),
        (their_checkout, f.request_refund(invoice_id)),
    ):
        error = refused_without_writing(  # the answer for an invoice that does not exist
            sqlite_ledger, NotFound,
            lambda actor=actor, cmd=command: sqlite_ledger.execute(actor, cmd))
        assert (error.kind, error.key) == ("Invoice", invoice_id)
    with pytest.raises(NotFound) as unseen:  # another account's reads as one that is not
        sqlite_ledger.get(intruder, Invoice, invoice_id)
    assert (unseen.value.kind, unseen.value.key) == ("Invoice", invoice_id)
    assert sqlite_ledger.get(owner, Invoice, invoice_id).status == "paid"


def test_an_actor_of_another_account_cannot_touch_a_refund(sqlite_ledger, checkout, owner):
    invoice_id = paid_invoice(sqlite_ledger, checkout)
    refund_id = sqlite_ledger.execute(checkout, f.request_refund(invoice_id)).aggregate_id
    intruder = Actor.preset("owner", id="owner-2", account="acct-2")
    refused_without_writing(sqlite_ledger, NotFound, lambda: sqlite_ledger.execute(
        intruder, c.ApproveRefund(refund_id=refund_id)))
    assert sqlite_ledger.execute(owner, c.ApproveRefund(refund_id=refund_id)).events == 1


def test_an_unknown_invoice_is_not_found_and_nothing_is_written(sqlite_ledger, checkout):
    missing = uuid4()
    error = refused_without_writing(sqlite_ledger, NotFound, lambda: sqlite_ledger.execute(
        checkout, c.RequestCharge(invoice_id=missing)))
    assert (error.kind, error.key) == ("Invoice", missing)


def test_a_rejected_transition_writes_nothing(sqlite_ledger, checkout):
    invoice_id = sqlite_ledger.execute(checkout, f.create_invoice()).aggregate_id
    error = refused_without_writing(sqlite_ledger, InvalidTransition, lambda: (
        sqlite_ledger.execute(GATEWAY, c.ApproveCard(invoice_id=invoice_id,
                                                      authorization_code="AUTH-1"))))
    assert (error.state, error.command) == ("draft", "approve a card attempt")
    assert sqlite_ledger.load(Invoice, invoice_id).status == "draft"


def test_a_refund_step_refused_on_the_invoice_writes_neither_aggregate(
    sqlite_ledger, checkout, owner, clock
):
    invoice_id = sqlite_ledger.execute(checkout, f.create_invoice(method="pix")).aggregate_id
    sqlite_ledger.execute(GATEWAY, c.IssuePix(invoice_id=invoice_id, txid=f.TXID))
    sqlite_ledger.execute(GATEWAY, c.RecordPayment(invoice_id=invoice_id, reference="E2E"))
    refund_id = sqlite_ledger.execute(checkout, f.request_refund(invoice_id, 1_000)).aggregate_id
    clock.advance(timedelta(days=91))
    error = refused_without_writing(sqlite_ledger, InvalidTransition, lambda: (
        sqlite_ledger.execute(owner, c.ApproveRefund(refund_id=refund_id))))
    assert (error.kind, error.command) == ("Invoice", "approve a refund")


def test_an_existing_invoice_id_cannot_be_created_again(sqlite_ledger, checkout):
    reference = uuid4()
    made = sqlite_ledger.execute(checkout, f.create_invoice(invoice_id=reference))
    refused_without_writing(sqlite_ledger, Conflict, lambda: sqlite_ledger.execute(
        checkout, f.create_invoice(invoice_id=reference, price=5)))
    assert sqlite_ledger.load(Invoice, made.aggregate_id).total == 10_000


# -- bad input ---------------------------------------------------------------------------


INVOICE_ID = UUID("00000000-0000-4000-8000-000000000001")
NAIVE = datetime(2026, 3, 2, 12, 0)  # naive on purpose


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: f.create_invoice(customer={**f.CUSTOMER, "document": "11144477736"}),
         "customer.document"),
        (lambda: f.create_invoice(customer={**f.CUSTOMER, "document": None}), "customer.document"),
        (lambda: f.create_invoice(customer={**f.CUSTOMER, "email": "ana@"}), "customer.email"),
        (lambda: f.create_invoice(currency="XYZ"), "currency"),
        (lambda: f.create_invoice(price=-100), "items.0.unit_price"),
        (lambda: f.create_invoice(price=0), "items.0.unit_price"),
        (lambda: f.create_invoice(price=10.5), "items.0.unit_price"),
        (lambda: f.create_invoice(items=[]), "items"),
        (lambda: f.create_invoice(method="cash"), "method"),
        (lambda: f.create_invoice(warranty_days=-1), "warranty_days"),
        (lambda: f.create_invoice(at=NAIVE), "at"),
        (lambda: c.IssuePix(invoice_id=INVOICE_ID, txid="short"), "txid"),
        (lambda: c.IssuePix(invoice_id=INVOICE_ID, txid="x" * 30 + "!"), "txid"),
        (lambda: c.IssueBoleto(invoice_id=INVOICE_ID, digitable_line="123", due_at=NAIVE),
         "digitable_line"),
        (lambda: c.IssueBoleto(invoice_id=INVOICE_ID, digitable_line=f.BOLETO_LINE,
                               due_at=NAIVE), "due_at"),
        (lambda: c.ApplyDiscount(invoice_id=INVOICE_ID, amount=-5), "amount"),
        # who asks follows from the principal: no caller names it, not even rightly
        (lambda: f.request_refund(INVOICE_ID, requested_by="buyer"), "requested_by"),
        (lambda: f.request_refund(INVOICE_ID, justification=""), "justification"),
        (lambda: c.RequestCharge(invoice_id="not-a-uuid"), "invoice_id"),
        (lambda: c.RequestCharge(invoice_id=INVOICE_ID, surprise=1), "surprise"),
    ],
)
def test_bad_input_names_its_field_at_construction(build, field):
    with pytest.raises(ValidationError) as caught:
        build()
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


# -- the envelope and the chain ------------------------------------------------------------


def test_every_stored_event_carries_the_whole_envelope(sqlite_ledger, checkout, clock):
    correlation, causation = uuid4(), uuid4()
    created = sqlite_ledger.execute(checkout, f.create_invoice(
        correlation_id=correlation, causation_id=causation))
    clock.advance(timedelta(minutes=5))
    charged = sqlite_ledger.execute(checkout, c.RequestCharge(invoice_id=created.aggregate_id))
    at = datetime(2026, 3, 2, 12, 7, tzinfo=UTC)
    approved = sqlite_ledger.execute(GATEWAY, c.ApproveCard(
        invoice_id=created.aggregate_id, authorization_code="AUTH-1", at=at,
        causation_id=charged.command_id))
    events = decoded(sqlite_ledger, created.aggregate_id)
    assert [topic for _, topic, _ in events] == [
        "payledger:Invoice.Created", "payledger:Invoice.ChargeRequested",
        "payledger:Invoice.Paid"]
    for _, _, state in events:
        assert set(ENVELOPE) <= set(state)
        assert state["account"] == "acct-1"
        assert state["class_version"] == 2  # version 2 records the principal's kind and role
        assert len(state["hash"]) == 64
    (_, _, first), (_, _, second), (_, _, third) = events
    assert (first["actor"], first["at"], first["command_id"]) == (
        "checkout", clock.now() - timedelta(minutes=5), created.command_id)
    assert (first["correlation_id"], first["causation_id"]) == (correlation, causation)
    assert (second["at"], second["command_id"]) == (clock.now(), charged.command_id)
    # without ids of its own, a command starts its own conversation
    assert (second["correlation_id"], second["causation_id"]) == (charged.command_id, None)
    assert (third["actor"], third["at"], third["command_id"]) == ("gateway", at,
                                                                  approved.command_id)
    assert [(s["actor_kind"], s["actor_role"]) for s in (first, second, third)] == [
        ("platform", "checkout"), ("platform", "checkout"), ("platform", "gateway")]
    assert third["causation_id"] == charged.command_id
    assert [s["prev_hash"] for s in (first, second, third)] == [
        "", first["hash"], second["hash"]]
    assert sqlite_ledger.broken_links(created.aggregate_id) == []


def test_an_event_records_the_kind_and_role_of_its_principal(sqlite_ledger, checkout):
    invoice_id = sqlite_ledger.execute(checkout, f.create_invoice()).aggregate_id
    support = Actor.preset("support", id="support-1", account="acct-1")
    sqlite_ledger.execute(support, c.VoidInvoice(invoice_id=invoice_id, reason="test order"))
    assert [(s["actor"], s["actor_kind"], s["actor_role"])
            for _, _, s in decoded(sqlite_ledger, invoice_id)] == [
        ("checkout", "platform", "checkout"), ("support-1", "account", "support")]


def test_the_events_of_one_command_share_its_envelope(sqlite_ledger, checkout):
    invoice_id = paid_invoice(sqlite_ledger, checkout)
    correlation = uuid4()
    receipt = sqlite_ledger.execute(checkout, f.request_refund(
        invoice_id, 1_000, correlation_id=correlation, idempotency_key="refund-1"))
    refund_id = receipt.aggregate_id
    key_id = IdempotencyRecord.create_id("acct-1", "refund-1")
    states = [decoded(sqlite_ledger, invoice_id)[-1][2], decoded(sqlite_ledger, refund_id)[0][2],
              decoded(sqlite_ledger, key_id)[0][2]]
    assert receipt.events == 3
    for state in states:
        assert (state["command_id"], state["correlation_id"]) == (receipt.command_id,
                                                                  correlation)
    for aggregate_id in (invoice_id, refund_id, key_id):
        assert sqlite_ledger.broken_links(aggregate_id) == []


def rewrite(ledger: Ledger, aggregate_id: UUID, version: int,
            change: Callable[[dict[str, Any]], None]) -> None:
    """Change one stored event behind the ledger's back, as an intruder with the file would."""
    transcoder = ledger.mapper.transcoder
    path = ledger.settings.store.path
    assert path is not None
    with sqlite3.connect(path) as conn:
        (blob,) = conn.execute(
            "SELECT state FROM stored_events WHERE originator_id=? AND originator_version=?",
            (aggregate_id.hex, version)).fetchone()
        state = transcoder.decode(blob)
        change(state)
        updated = conn.execute(
            "UPDATE stored_events SET state=? WHERE originator_id=? AND originator_version=?",
            (transcoder.encode(state), aggregate_id.hex, version))
        assert updated.rowcount == 1
    conn.close()


def test_a_tampered_event_breaks_its_link(sqlite_ledger, checkout):
    invoice_id = paid_invoice(sqlite_ledger, checkout)
    assert sqlite_ledger.broken_links(invoice_id) == []

    def inflate(state: dict[str, Any]) -> None:
        state["amount"] = 1
    rewrite(sqlite_ledger, invoice_id, 3, inflate)
    assert sqlite_ledger.broken_links(invoice_id) == [3]
    # the store really changed (read from it: the cache holds what this ledger saved)
    assert sqlite_ledger.repository.get(invoice_id, version=3).paid == 1


def test_a_tampered_event_rehashed_breaks_the_next_link(sqlite_ledger, checkout):
    invoice_id = paid_invoice(sqlite_ledger, checkout)
    transcoder = sqlite_ledger.mapper.transcoder

    def change_and_rehash(state: dict[str, Any]) -> None:
        state["reason"] = "rewritten"
        state["hash"] = digest(transcoder, "payledger:Invoice.ChargeRequested", invoice_id, 2,
                               state)
    rewrite(sqlite_ledger, invoice_id, 2, change_and_rehash)
    assert sqlite_ledger.broken_links(invoice_id) == [3]


def test_a_changed_envelope_field_breaks_the_link(sqlite_ledger, checkout):
    invoice_id = paid_invoice(sqlite_ledger, checkout)

    def blame_someone_else(state: dict[str, Any]) -> None:
        state["actor"] = "owner-1"
    rewrite(sqlite_ledger, invoice_id, 1, blame_someone_else)
    assert sqlite_ledger.broken_links(invoice_id) == [1]


def test_a_command_uses_the_injected_clock_when_it_brings_no_instant(
    sqlite_ledger, checkout, clock
):
    assert sqlite_ledger.clock is clock
    clock.advance(timedelta(days=3))
    receipt = sqlite_ledger.execute(checkout, f.create_invoice())
    ((_, _, state),) = decoded(sqlite_ledger, receipt.aggregate_id)
    assert state["at"] == clock.now()
    assert sqlite_ledger.load(Invoice, receipt.aggregate_id).created_at == clock.now()


def test_a_refund_requested_during_a_dispute_is_marked(sqlite_ledger, checkout, clock):
    invoice_id = paid_invoice(sqlite_ledger, checkout)
    sqlite_ledger.execute(GATEWAY, c.OpenDispute(
        invoice_id=invoice_id, reason="unrecognized", respond_by=clock.now() + timedelta(days=7)))
    refund_id = sqlite_ledger.execute(checkout, f.request_refund(invoice_id, 1_000)).aggregate_id
    ((_, topic, state),) = decoded(sqlite_ledger, refund_id)
    assert (topic, state["under_dispute"]) == ("payledger:Refund.Requested", True)


def test_an_id_already_taken_is_a_conflict_at_once_and_writes_nothing(
    sqlite_ledger: Ledger, checkout: Actor,
) -> None:
    reference = uuid4()
    made = sqlite_ledger.execute(checkout, f.create_invoice(invoice_id=reference))
    before = written(sqlite_ledger)
    with pytest.raises(Conflict, match="already exists"):
        sqlite_ledger.execute(checkout, f.create_invoice(invoice_id=reference, method="pix"))
    assert written(sqlite_ledger) == before
    assert sqlite_ledger.load(Invoice, made.aggregate_id).method == "card"


# -- business time's bounds ------------------------------------------------------------------


@pytest.mark.parametrize(("make", "field"), [
    (lambda now: f.create_invoice(at=datetime(9999, 12, 31, tzinfo=UTC)), "at"),
    (lambda now: f.create_invoice(at=datetime(1, 1, 1, tzinfo=UTC)), "at"),
    (lambda now: f.create_invoice(at=datetime(1999, 12, 31, 23, tzinfo=UTC)), "at"),
    (lambda now: f.create_invoice(at=now + timedelta(minutes=6)), "at"),
    (lambda now: c.IssueBoleto(invoice_id=uuid4(), digitable_line=f.BOLETO_LINE,
                               due_at=datetime(9999, 12, 31, tzinfo=UTC)), "due_at"),
    (lambda now: c.IssueBoleto(invoice_id=uuid4(), digitable_line=f.BOLETO_LINE,
                               due_at=now + timedelta(days=397)), "due_at"),
    (lambda now: c.RecordPayment(invoice_id=uuid4(), reference="E2E",
                                 paid_at=now + timedelta(days=1)), "paid_at"),
])
def test_instants_out_of_business_time_are_refused_by_field(sqlite_ledger, clock, make, field):
    """One account's sale dated at year 9999 (or 1) would stop every account's ticks."""
    command = make(clock.now())
    actor = platform_for(command)
    error = refused_without_writing(sqlite_ledger, ValidationError,
                                    lambda: sqlite_ledger.execute(actor, command))
    assert error.field == field


def test_history_imports_and_due_dates_within_the_bounds_are_accepted(sqlite_ledger, clock):
    imported = f.create_invoice(at=datetime(2000, 1, 1, tzinfo=UTC), method="boleto")
    invoice_id = sqlite_ledger.execute(platform_for(imported), imported).aggregate_id
    sqlite_ledger.execute(platform_for(c.IssueBoleto), c.IssueBoleto(
        invoice_id=invoice_id, digitable_line=f.BOLETO_LINE, at=datetime(2000, 1, 2, tzinfo=UTC),
        due_at=clock.now() + timedelta(days=396)))
    assert sqlite_ledger.load(Invoice, invoice_id).status == "open"
