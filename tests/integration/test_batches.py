"""`execute_many`: many commands, each with its own actor, in one transaction; and
idempotency keys that cost nothing on a first run. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

import pytest

from payledger.domain import commands as c
from payledger.domain.errors import InvalidTransition
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.ledger import Ledger
from tests import factories as f
from tests.integration.test_commands import decoded, written
from tests.principals import GATEWAY


def sale(invoice_id: UUID, checkout: Actor, key: str | None = None) -> list[tuple[Actor, Any]]:
    keys = [f"{key}-{step}" if key else None for step in ("create", "charge", "approve")]
    return [
        (checkout, f.create_invoice(invoice_id=invoice_id, idempotency_key=keys[0])),
        (checkout, c.RequestCharge(invoice_id=invoice_id, idempotency_key=keys[1])),
        (GATEWAY, c.ApproveCard(invoice_id=invoice_id, authorization_code="A1",
                                idempotency_key=keys[2])),
    ]


def test_a_batch_applies_its_commands_in_order_in_one_transaction(ledger: Ledger, checkout):
    reference = uuid4()  # the checkout's own id for the sale; stored scoped to its account
    invoice_id = Invoice.scoped_id(checkout.account, reference)
    before = written(ledger)
    receipts = ledger.execute_many(sale(reference, checkout))
    assert [r.aggregate_id for r in receipts] == [invoice_id] * 3
    assert [r.repeated for r in receipts] == [False] * 3
    assert written(ledger) - before == sum(r.events for r in receipts)
    assert len({r.command_id for r in receipts}) == 3
    assert ledger.load(Invoice, invoice_id).status == "paid"
    assert ledger.broken_links(invoice_id) == []
    commands = [state["command_id"] for _, _, state in decoded(ledger, invoice_id)]
    assert commands[:2] == [receipts[0].command_id, receipts[1].command_id]


def test_a_refused_command_writes_nothing_of_the_batch_and_says_which(ledger: Ledger, checkout):
    paid, refused = uuid4(), uuid4()
    batch = [*sale(paid, checkout), (checkout, f.create_invoice(invoice_id=refused)),
             (GATEWAY, c.ApproveCard(invoice_id=refused, authorization_code="A2"))]
    before = written(ledger)
    with pytest.raises(InvalidTransition) as caught:
        ledger.execute_many(batch)
    assert written(ledger) == before
    assert "command 5: ApproveCard" in caught.value.__notes__
    assert ledger.recorder.select_events(paid) == []


def test_each_command_of_a_batch_records_its_own_actor(ledger: Ledger, checkout, owner):
    reference = uuid4()
    receipts = ledger.execute_many([
        (checkout, f.create_invoice(invoice_id=reference)),
        (owner, c.VoidInvoice(invoice_id=reference, reason="test order"))])
    actors = [state["actor"] for _, _, state in decoded(ledger, receipts[0].aggregate_id)]
    assert actors == [checkout.id, owner.id]


def test_a_batch_run_again_returns_its_first_receipts_and_writes_nothing(ledger: Ledger, checkout):
    invoice_id = uuid4()
    first = ledger.execute_many(sale(invoice_id, checkout, key="sale-1"))
    before = written(ledger)
    again = ledger.execute_many(sale(invoice_id, checkout, key="sale-1"))
    assert written(ledger) == before
    assert [(r.command_id, r.events, r.repeated) for r in again] == [
        (r.command_id, r.events, True) for r in first]


def test_a_batch_skips_what_was_done_before_and_writes_the_rest(ledger: Ledger, checkout):
    steps = sale(uuid4(), checkout, key="sale-2")
    created = ledger.execute(*steps[0])
    invoice_id = created.aggregate_id
    receipts = ledger.execute_many(steps)
    assert receipts[0].repeated
    assert receipts[0].command_id == created.command_id
    assert [r.repeated for r in receipts[1:]] == [False, False]
    assert ledger.load(Invoice, invoice_id).status == "paid"
    assert ledger.broken_links(invoice_id) == []


def test_a_repeated_approval_the_paid_invoice_refuses_returns_the_first_result(
    ledger: Ledger, checkout,
):
    invoice_id = ledger.execute(checkout, f.create_invoice()).aggregate_id
    ledger.execute(checkout, c.RequestCharge(invoice_id=invoice_id))
    approve = c.ApproveCard(invoice_id=invoice_id, authorization_code="A1",
                            idempotency_key="approve-1")
    first = ledger.execute(GATEWAY, approve)
    before = written(ledger)
    again = ledger.execute(GATEWAY, approve)  # the invoice is paid: the handler refuses
    assert (again.command_id, again.repeated) == (first.command_id, True)
    assert written(ledger) == before


@contextmanager
def counting_reads(ledger: Ledger) -> Iterator[list[UUID]]:
    reads: list[UUID] = []
    select = ledger.recorder.select_events

    def counted(originator_id: UUID, **kwargs: Any) -> Any:
        reads.append(originator_id)
        return select(originator_id, **kwargs)

    ledger.recorder.select_events = counted  # type: ignore[method-assign]
    try:
        yield reads
    finally:
        del ledger.recorder.select_events


def test_a_key_costs_no_read_on_a_first_run(sqlite_ledger: Ledger, checkout):
    with counting_reads(sqlite_ledger) as reads:
        sqlite_ledger.execute(checkout, f.create_invoice(idempotency_key="first-run"))
    assert reads == []
    with counting_reads(sqlite_ledger) as reads:
        repeated = sqlite_ledger.execute(checkout, f.create_invoice(idempotency_key="first-run"))
    assert repeated.repeated
    assert len(reads) >= 1


def test_a_record_written_with_the_old_digest_still_matches_its_repeat(
    sqlite_ledger: Ledger, checkout,
):
    import hashlib
    import json

    from payledger.domain.envelope import acting
    from payledger.domain.idempotency import IdempotencyRecord
    from tests.unit.test_invoice import T0, envelope

    command = f.create_invoice(idempotency_key="old-1")
    legacy = hashlib.sha256(json.dumps(command.digest_fields(), sort_keys=True,
                                       default=str).encode()).hexdigest()
    first = uuid4()
    with acting(envelope(T0)):
        sqlite_ledger.save(IdempotencyRecord.recorded(
            "acct-1", "old-1", "CreateInvoice", legacy,
            {"aggregate_id": str(first), "command_id": str(first), "events": 2}))
    again = sqlite_ledger.execute(checkout, command)
    assert (again.aggregate_id, again.repeated) == (first, True)


def test_a_key_twice_in_one_batch_is_refused_by_field_and_writes_nothing(ledger: Ledger, checkout):
    from payledger.domain.errors import ValidationError

    first, second = uuid4(), uuid4()
    batch = [(checkout, f.create_invoice(invoice_id=first, idempotency_key="twice")),
             (checkout, f.create_invoice(invoice_id=second, idempotency_key="twice"))]
    before = written(ledger)
    with pytest.raises(ValidationError, match="idempotency_key"):
        ledger.execute_many(batch)
    assert written(ledger) == before


def test_an_empty_batch_writes_nothing(sqlite_ledger: Ledger):
    before = written(sqlite_ledger)
    assert sqlite_ledger.execute_many([]) == []
    assert written(sqlite_ledger) == before
