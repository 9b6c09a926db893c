"""Every bad input a typed error (issue 15, item 7): random and hostile payloads over
every command class of both applications, sent by principals of two accounts and of
the platform, against a store holding real aggregates of both accounts. Each command
is either carried out or refused with a `PayLedgerError`, and a refusal writes nothing
to either log; no raw exception escapes."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, get_args
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from payledger import bootstrap
from payledger.domain import commands as c
from payledger.domain.balance import Balance
from payledger.domain.errors import PayLedgerError
from payledger.domain.permissions import Actor, Kind
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.settlement import Settlement, open_settlement
from tests import factories as f
from tests.principals import platform_for

START = datetime(2026, 3, 2, 12, tzinfo=UTC)
ACCOUNTS = ("acct-1", "acct-2")
LEDGER_COMMANDS = sorted(bootstrap.handlers("ledger"), key=lambda k: k.__name__)
SETTLEMENT_COMMANDS = sorted(bootstrap.handlers("settlement"), key=lambda k: k.__name__)
COMMON = set(c.Command.model_fields)


class World:
    """A Ledger and its Settlement with, in each account, a paid invoice, a coupon, an
    installment plan, a subscription and a refund; every id kept for the payloads."""

    def __init__(self, folder: str) -> None:
        self.clock = SimulatedClock(START)
        config = Settings(store_url=f"sqlite:///{folder}/events.db")
        self.ledger = Ledger(config, clock=self.clock)
        self.settlement = open_settlement(config, ledger=self.ledger)
        self.ids: list[UUID] = []
        for account in ACCOUNTS:
            self._fill(account)
        self.settlement.catch_up()
        self.ids += [Balance.create_id(p, "BRL", a) for p in ("producer-1", "platform")
                     for a in ACCOUNTS]

    def _fill(self, account: str) -> None:
        checkout = Actor.platform("checkout", id="checkout", account=account)
        gateway = Actor.platform("gateway", id="gateway", account=account)
        invoice = self.ledger.execute(checkout, f.create_invoice()).aggregate_id
        self.ledger.execute(checkout, c.RequestCharge(invoice_id=invoice))
        self.ledger.execute(gateway, c.ApproveCard(invoice_id=invoice, authorization_code="A"))
        refund = self.ledger.execute(checkout, f.request_refund(invoice, 100)).aggregate_id
        owner = Actor.preset("owner", id=f"owner@{account}", account=account)
        coupon = self.ledger.execute(owner, c.CreateCoupon(
            code=f"HOSTILE{account[-1]}", kind="percent", value=1_000)).aggregate_id
        plan = self.ledger.execute(checkout, c.CreateInstallmentPlan(
            items=[{"product_id": "course-1", "unit_price": 30_000}], customer=f.CUSTOMER,
            currency="BRL", split=f.SPLIT, count=3)).aggregate_id
        sub = self.ledger.execute(checkout, c.CreateSubscription(
            customer=f.CUSTOMER, split=f.SPLIT, payment_method="card-tok-1",
            plan={"plan_id": "monthly", "product_id": "course-1", "price": 4_990,
                  "currency": "BRL", "interval_months": 1})).aggregate_id
        self.ids += [invoice, refund, coupon, plan, sub]

    def written(self) -> tuple[int, int]:
        return (self.ledger.recorder.max_notification_id() or 0,
                self.settlement.recorder.max_notification_id() or 0)

    def close(self) -> None:
        self.settlement.close()
        self.ledger.close()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with tempfile.TemporaryDirectory() as folder:
        made = World(folder)
        try:
            yield made
        finally:
            made.close()


WORDS = ["", " ", "\x00", "\x1b[31m", "\u202e", "\ud800", "a" * 5_000, "card", "pix",
         "boleto", "BRL", "XXX", "owner", "support", "acct-1", "acct-2", "platform",
         "HOSTILE1", "HOSTILE2", "monthly", "course-1", "11144477735", "ana@example.com",
         "America/Sao_Paulo", "Mars/Olympus", "percent", "fixed", "company", "person"]
INSTANTS = st.one_of(
    st.sampled_from([START, START - timedelta(days=400), START + timedelta(days=20),
                     datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC),
                     datetime(2026, 3, 2, 12)]),  # the last one naive
    st.datetimes(min_value=datetime(1, 1, 2), timezones=st.just(UTC)))
NESTED = st.sampled_from([
    f.CUSTOMER, {"name": "\u202e", "email": "x"}, f.SPLIT, {"producer": ""},
    {"product_id": "course-1", "unit_price": 100}, [{"product_id": "course-1",
                                                     "unit_price": -1}],
    {"plan_id": "monthly", "product_id": "course-1", "price": 1, "currency": "BRL",
     "interval_months": 7}, {"bank": "341", "branch": "1", "number": "1",
                             "holder_name": "x", "holder_document": "11144477735"}])


def values(world: World) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(world.ids), st.uuids(), st.sampled_from(WORDS), st.text(max_size=40),
        st.integers(-(2**70), 2**70), st.sampled_from([0, 1, -1, 12, 13, 10**12, 10**13]),
        st.floats(allow_nan=True), st.booleans(), st.none(), INSTANTS, NESTED,
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def plausible(annotation: Any, world: World) -> st.SearchStrategy[Any]:
    """Values of the field's own type (ids of real aggregates of both accounts, words a
    command takes, instants in and out of bounds), so a command gets past its own
    validation and reaches the aggregates; `values` gives the rest."""
    text = repr(annotation)
    if "UUID" in text:
        return st.one_of(st.sampled_from(world.ids), st.uuids())
    if "Literal" in text:
        return st.sampled_from(list(get_args(annotation)) or WORDS)
    if "datetime" in text:
        return INSTANTS
    if "date" in text:
        return st.dates()
    if annotation is bool or "bool" in text:
        return st.booleans()
    if annotation is int or "int" in text:
        return st.one_of(st.integers(-5, 20_000), st.sampled_from([0, 10**12, 10**13]))
    if "str" in text:
        return st.one_of(st.sampled_from(WORDS), st.text(max_size=30))
    return NESTED


@st.composite
def hostile(draw: st.DrawFn, world: World) -> tuple[type[c.Command], dict[str, Any], Actor]:
    kind = draw(st.sampled_from([*LEDGER_COMMANDS, *SETTLEMENT_COMMANDS]))
    fields: dict[str, Any] = {}
    for name, field in kind.model_fields.items():
        if name in COMMON and draw(st.integers(0, 5)) > 0:
            continue  # the envelope's fields: mostly left out
        if not field.is_required() and draw(st.integers(0, 3)) == 0:
            continue  # left to its default
        own = draw(st.integers(0, 3)) > 0
        fields[name] = draw(plausible(field.annotation, world) if own else values(world))
    if draw(st.integers(0, 7)) == 0:
        fields["unexpected"] = draw(values(world))
    account = draw(st.sampled_from(ACCOUNTS))
    actor = draw(st.sampled_from([
        "platform", "owner", "support", "financial"]))
    if actor == "platform" and Kind.PLATFORM in kind.allowed:
        principal = platform_for(kind, account=account)
    elif actor == "platform":  # an account-only command: a platform operator tries it
        principal = Actor.platform("operator", id="ops-1", account=account)
    else:
        principal = Actor.preset(actor, id=f"{actor}@{account}", account=account)
    return kind, fields, principal


@settings(max_examples=1500, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_every_command_is_done_or_refused_with_a_typed_error_writing_nothing(world, data):
    kind, fields, actor = data.draw(hostile(world))
    before = world.written()
    app: Ledger | Settlement = world.settlement if kind in SETTLEMENT_COMMANDS else world.ledger
    try:
        command = kind(**fields)
    except PayLedgerError:
        event("refused as it was built")
        return
    try:
        app.execute(actor, command)
    except PayLedgerError as error:
        event(f"refused: {type(error).__name__}")
        assert world.written() == before, f"{kind.__name__} refused, yet wrote"
    else:
        event("carried out")
    world.clock.advance(timedelta(minutes=1))


def test_a_chosen_reference_never_lands_on_another_kind_or_account(world):
    """An invoice id a caller chooses equal to a coupon's id, or to another account's
    invoice, is its own scoped id: a new invoice, never theirs (issue 15, item 7)."""
    checkout = Actor.platform("checkout", id="checkout", account="acct-1")
    for existing in world.ids[:10]:
        receipt = world.ledger.execute(checkout, f.create_invoice(invoice_id=existing))
        assert receipt.aggregate_id != existing
        assert receipt.aggregate_id not in world.ids
    assert uuid4() not in world.ids
