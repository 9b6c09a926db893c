"""The sales aggregates survive a snapshot and a replay through the library's JSON mapper.

Each aggregate is built through its own methods (no store); its snapshot is encoded and
decoded as the application would store it, and its events are replayed from their
stored form: both give back the same state, statuses equal to their enum members.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import CanMutateAggregate, Snapshot
from eventsourcing.persistence import (
    Mapper,
)
from eventsourcing.utils import get_topic, resolve_topic

from payledger.domain.affiliation import Affiliation, AffiliationStatus
from payledger.domain.buyer import Buyer, BuyerStatus
from payledger.domain.coupon import Coupon, CouponStatus
from payledger.domain.envelope import LedgerAggregate, acting
from payledger.domain.idempotency import IdempotencyRecord
from payledger.domain.invoice import DisputeStatus, Invoice, InvoiceStatus
from payledger.domain.product import CoproductionStatus, Product, ProductStatus
from payledger.domain.refund import Refund, RefundStatus
from payledger.domain.splits import SplitRules
from tests.factories import CUSTOMER, SPLIT
from tests.unit.test_fastjson import LIBRARY
from tests.unit.test_invoice import ACCOUNT, DAY, MINUTE, T0, envelope

AGGREGATES: tuple[type[LedgerAggregate], ...] = (
    Invoice, Refund, Coupon, Product, Affiliation, Buyer, IdempotencyRecord,
)


class Clock:
    """Runs each call as one command, a minute after the previous one."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self, call: Callable[..., Any], *args: Any, after: timedelta = MINUTE) -> Any:
        self.now += after
        with acting(envelope(self.now)):
            return call(*args)


def mapper() -> Mapper[UUID]:
    return Mapper(transcoder=LIBRARY)


def invoice(do: Clock) -> Invoice:
    """Paid (so with splits), discounted, partly refunded, disputed and won."""
    rules = SplitRules.model_validate(SPLIT).model_dump(mode="json")
    sale: Invoice = do(lambda: Invoice(
        id=uuid4(),
        items=[{"product_id": "course-1", "description": "The course", "quantity": 2,
                "unit_price": 5_000},
               {"product_id": "bump-1", "description": "", "quantity": 1, "unit_price": 990}],
        customer=dict(CUSTOMER), currency="BRL", method="card", split_rules=rules,
        subtotal=10_990, warranty_days=7, origin="sale", origin_id=None,
    ))
    do(sale.apply_discount, 990, "SAVE")
    do(sale.request_charge, "checkout")
    do(sale.decline_card, "insufficient funds")
    do(sale.approve_card, "AUTH-1")
    do(sale.reserve_refund, uuid4(), 1_000, "support")
    do(sale.reserve_refund, refund_id := uuid4(), 500, "buyer")
    do(sale.complete_refund, refund_id)
    do(lambda: sale.open_dispute("fraud", do.now + 5 * DAY))
    do(sale.win_dispute)
    assert sale.splits
    assert sale.reserved
    assert sale.status is InvoiceStatus.PARTIALLY_REFUNDED
    assert sale.dispute is DisputeStatus.WON
    return sale


def refund(do: Clock) -> Refund:
    made: Refund = do(lambda: Refund(
        id=uuid4(), invoice_id=uuid4(), amount=1_000, currency="BRL", full=False,
        requested_by="buyer", justification="changed my mind", under_dispute=False,
    ))
    do(made.approve)
    do(made.send, "GW-1")
    do(made.succeed)
    assert made.status is RefundStatus.SUCCEEDED
    assert made.settled_at is not None
    return made


def coupon(do: Clock) -> Coupon:
    made: Coupon = do(lambda: Coupon.create(
        ACCOUNT, "save10", "fixed", 1_000, "BRL", ["course-1", "bump-1"], 2, T0,
        T0 + 30 * DAY,
    ))
    do(made.redeem, uuid4(), ["course-1"], 10_000, "BRL")
    do(made.redeem, uuid4(), ["bump-1"], 5_000, "BRL")
    assert made.status is CouponStatus.EXHAUSTED
    return made


def product(do: Clock) -> Product:
    made: Product = do(lambda: Product.register(ACCOUNT, "course-1", "The course", 3_000))
    do(made.set_affiliate_commission, 2_500)
    do(made.invite_coproducer, "co-1", 2_000, T0)
    do(made.accept_coproduction, "co-1")
    do(made.invite_coproducer, "co-2", 1_000, T0 + DAY)
    do(made.decline_coproduction, "co-2", "busy")
    do(made.end_coproduction, "co-1", "done")
    assert made.status is ProductStatus.ACTIVE
    assert [c["status"] for c in made.coproductions] == [
        CoproductionStatus.ENDED, CoproductionStatus.DECLINED]
    return made


def affiliation(do: Clock) -> Affiliation:
    made: Affiliation = do(lambda: Affiliation(
        id=Affiliation.create_id(ACCOUNT, "course-1", "aff-1"), product_id="course-1",
        affiliate="aff-1",
    ))
    do(made.approve, 3_000)
    do(made.end, "left")
    do(made.request_again)
    do(made.approve, 2_000)
    assert made.status is AffiliationStatus.APPROVED
    assert len(made.periods) == 2
    return made


def buyer(do: Clock) -> Buyer:
    made: Buyer = do(lambda: Buyer(
        id=Buyer.create_id(ACCOUNT, CUSTOMER["document"]), customer=dict(CUSTOMER),
    ))
    do(made.update_details, {**CUSTOMER, "phone": None})
    do(made.link, "Subscription", uuid4())
    do(made.change_email, CUSTOMER["document"], CUSTOMER["email"], "ana.nova@example.com")
    assert made.status is BuyerStatus.ACTIVE
    return made


def idempotency_record(do: Clock) -> IdempotencyRecord:
    made: IdempotencyRecord = do(lambda: IdempotencyRecord(
        id=IdempotencyRecord.create_id(ACCOUNT, "key-1"), key="key-1",
        command="CreateInvoice", digest="abc", result={"invoice_id": str(uuid4())},
    ))
    return made


BUILDERS: dict[str, Callable[[Clock], LedgerAggregate]] = {
    "invoice": invoice, "refund": refund, "coupon": coupon, "product": product,
    "affiliation": affiliation, "buyer": buyer, "idempotency_record": idempotency_record,
}


@pytest.fixture(params=sorted(BUILDERS))
def built(request: pytest.FixtureRequest) -> tuple[LedgerAggregate, list[Any]]:
    aggregate = BUILDERS[request.param](Clock())
    events = aggregate.collect_events()
    return aggregate, events


def test_a_snapshot_round_trip_gives_back_the_same_state(built):
    aggregate, _ = built
    codec = mapper()
    snapshot = Snapshot.take(aggregate)
    rebuilt = codec.to_domain_event(codec.to_stored_event(snapshot)).mutate(None)
    assert type(rebuilt) is type(aggregate)
    assert rebuilt.__dict__ == aggregate.__dict__
    status = getattr(aggregate, "status", None)
    if status is not None:
        assert rebuilt.status == status == type(status)(str(status))


def test_replaying_the_stored_events_gives_back_the_same_state(built):
    aggregate, events = built
    codec = mapper()
    stored = [codec.to_stored_event(event) for event in events]
    replayed: Any = None
    for record in stored:
        replayed = codec.to_domain_event(record).mutate(replayed)
    assert replayed.__dict__ == aggregate.__dict__
    # Replay runs the bodies again: statuses are enum members once more.
    assert type(getattr(replayed, "status", None)) is type(getattr(aggregate, "status", None))
    # And the stored form is stable: the replayed events encode to the same bytes.
    again = [codec.to_stored_event(codec.to_domain_event(record)) for record in stored]
    assert [record.state for record in again] == [record.state for record in stored]


@pytest.mark.parametrize("aggregate", AGGREGATES, ids=lambda cls: cls.__name__)
def test_every_event_class_has_its_stable_topic(aggregate):
    events = {
        name: value for name, value in vars(aggregate).items()
        if isinstance(value, type) and issubclass(value, CanMutateAggregate) and name != "Event"
    }
    assert events
    for name, cls in events.items():
        assert f"{aggregate.TOPIC}.{name}" == cls.TOPIC
        assert get_topic(cls) == cls.TOPIC
        assert resolve_topic(cls.TOPIC) is cls
