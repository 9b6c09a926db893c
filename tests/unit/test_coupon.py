"""The Coupon state machine and its redemption rules, driven directly (no store).

active -> exhausted (usage limit reached) | disabled; exhausted -> disabled. Every
(state, command) pair is covered by `LEGAL` and the two transition tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper
from hypothesis import given
from hypothesis import strategies as st

from payledger.domain.coupon import Coupon, normalize_code
from payledger.domain.envelope import acting
from payledger.domain.errors import InvalidTransition, ValidationError
from tests.unit.test_fastjson import LIBRARY
from tests.unit.test_invoice import DAY, MINUTE, SECOND, T0, envelope, frozen

ACCOUNT = "acct-1"


def make(**extra: Any) -> Coupon:
    fields: dict[str, Any] = {
        "account": ACCOUNT, "code": "welcome10", "kind": "percent", "value": 1_000,
        "currency": None, "product_ids": (), "usage_limit": 2, "valid_from": T0,
        "valid_until": T0 + 30 * DAY,
    }
    with acting(envelope(T0 - DAY)):  # made the day before its window opens
        return Coupon.create(**{**fields, **extra})


def run(at: datetime, call: Callable[..., Any], *args: Any) -> Any:
    with acting(envelope(at)):
        return call(*args)


def redeem(coupon: Coupon, at: datetime = T0 + MINUTE, subtotal: int = 10_000,
           products: tuple[str, ...] = ("course-1",), currency: str = "BRL") -> int:
    amount: int = run(at, coupon.redeem, uuid4(), list(products), subtotal, currency)
    return amount


def _exhausted() -> Coupon:
    coupon = make()
    redeem(coupon)
    redeem(coupon)
    return coupon


def _disabled() -> Coupon:
    coupon = make()
    run(T0 + MINUTE, coupon.disable, "campaign over")
    return coupon


RECIPES: dict[str, Callable[[], Coupon]] = {
    "active": make, "exhausted": _exhausted, "disabled": _disabled,
}
COMMANDS: dict[str, tuple[str, Callable[[Coupon], object]]] = {
    "redeem": ("redeem", lambda c: redeem(c, at=T0 + DAY)),
    "disable": ("disable", lambda c: run(T0 + DAY, c.disable, "stop")),
}
LEGAL: dict[str, dict[str, str]] = {
    "active": {"redeem": "active", "disable": "disabled"},
    "exhausted": {"disable": "disabled"},
    "disabled": {},
}
PAIRS = [(state, command) for state in RECIPES for command in COMMANDS]


def test_the_tables_cover_every_state():
    assert set(RECIPES) == set(LEGAL)
    for state, build in RECIPES.items():
        assert build().status == state


@pytest.mark.parametrize(("state", "command"), [p for p in PAIRS if p[1] in LEGAL[p[0]]])
def test_every_legal_transition(state, command):
    coupon = RECIPES[state]()
    before = len(coupon.pending_events)
    COMMANDS[command][1](coupon)
    assert coupon.status == LEGAL[state][command]
    assert len(coupon.pending_events) == before + 1


@pytest.mark.parametrize(("state", "command"), [p for p in PAIRS if p[1] not in LEGAL[p[0]]])
def test_every_illegal_transition_is_refused_and_writes_nothing(state, command):
    coupon = RECIPES[state]()
    text, call = COMMANDS[command]
    before = frozen(coupon)
    with pytest.raises(InvalidTransition) as caught:
        call(coupon)
    assert frozen(coupon) == before
    assert (caught.value.kind, caught.value.state, caught.value.command) == (
        "Coupon", state, text)


def test_an_exhausted_coupon_says_its_limit_is_reached():
    coupon = _exhausted()
    with pytest.raises(InvalidTransition, match="usage limit of 2 is reached"):
        redeem(coupon)
    assert coupon.used == 2


def test_redemptions_are_counted_and_each_event_names_its_invoice():
    coupon = make(usage_limit=None)
    invoice_id = uuid4()
    assert run(T0 + MINUTE, coupon.redeem, invoice_id, ["course-1"], 10_000, "BRL") == 1_000
    for _ in range(5):
        redeem(coupon)
    assert (coupon.used, coupon.status) == (6, "active")
    event = coupon.pending_events[1]
    assert (type(event).__name__, event.invoice_id, event.amount) == (
        "Redeemed", invoice_id, 1_000)


def test_the_coupon_keeps_its_count_not_its_invoices():
    """What the cache copies for each sale, and what a snapshot holds, stays the same
    size however many sales used the coupon (each invoice records its own coupon)."""
    fresh, used = make(usage_limit=None), make(usage_limit=None)
    for _ in range(300):
        redeem(used)
    used.collect_events()

    def state(coupon: Coupon) -> dict[str, Any]:
        return {k: v for k, v in vars(coupon).items() if k != "_pending_events"}

    assert state(used).keys() == state(fresh).keys()
    assert {k: v for k, v in state(used).items() if isinstance(v, dict | list | set)} == {
        "product_ids": []}
    assert used.used == 300


def test_one_invoice_cannot_redeem_twice():
    """Among the redemptions not yet saved (a batch); a stored one is guarded by the
    invoice, created in the same transaction (tests/integration/test_coupons.py)."""
    coupon = make(usage_limit=None)
    invoice_id = uuid4()
    run(T0 + MINUTE, coupon.redeem, invoice_id, ["course-1"], 10_000, "BRL")
    redeem(coupon)
    before = frozen(coupon)
    with pytest.raises(InvalidTransition, match="already redeemed"):
        run(T0 + MINUTE, coupon.redeem, invoice_id, ["course-1"], 10_000, "BRL")
    assert frozen(coupon) == before


# -- stored forms -----------------------------------------------------------------------


def test_a_snapshot_taken_by_version_1_loads_without_its_redemptions():
    """Version 1 kept every invoice's discount; its snapshots still load, as a count."""
    coupon = make()
    redeem(coupon)
    coupon.collect_events()
    codec = Mapper[UUID](transcoder=LIBRARY)
    stored = codec.to_stored_event(Snapshot.take(coupon))
    state = orjson.loads(stored.state)
    assert state["state"].pop("class_version") == 2
    state["state"]["redemptions"] = {str(uuid4()): 1_000}  # as version 1 took it
    v1 = replace(stored, state=orjson.dumps(state))
    loaded = codec.to_domain_event(v1).mutate(None)
    assert not hasattr(loaded, "redemptions")
    assert {k: v for k, v in vars(loaded).items() if k != "_pending_events"} == {
        k: v for k, v in vars(coupon).items() if k != "_pending_events"}
    redeem(loaded)
    assert (loaded.used, loaded.status) == (2, "exhausted")


# -- the validity window (business time) ----------------------------------------------


@pytest.mark.parametrize("at", [T0, T0 + 30 * DAY], ids=["first instant", "last instant"])
def test_the_window_includes_both_ends(at):
    assert redeem(make(), at=at) == 1_000


@pytest.mark.parametrize(
    ("at", "state", "text"),
    [(T0 - SECOND, "not yet valid", "valid from"), (T0 + 30 * DAY + SECOND, "expired",
                                                    "expired at")],
)
def test_outside_the_window_is_refused(at, state, text):
    coupon = make()
    before = frozen(coupon)
    with pytest.raises(InvalidTransition, match=text) as caught:
        redeem(coupon, at=at)
    assert (caught.value.state, caught.value.command) == (state, "redeem")
    assert frozen(coupon) == before


def test_no_end_means_always_valid_after_the_start():
    assert redeem(make(valid_until=None), at=T0 + 3_650 * DAY) == 1_000


# -- what it applies to ---------------------------------------------------------------


def test_a_coupon_for_some_products_applies_only_when_every_product_is_covered():
    coupon = make(product_ids=("course-1", "ebook-1"))
    assert redeem(coupon, products=("course-1", "ebook-1")) == 1_000
    before = frozen(coupon)
    with pytest.raises(ValidationError, match="does not apply to bump-1") as caught:
        redeem(coupon, products=("course-1", "bump-1"))
    assert caught.value.field == "coupon_code"
    assert frozen(coupon) == before


def test_a_fixed_coupon_applies_only_in_its_currency():
    coupon = make(kind="fixed", value=2_500, currency="brl")
    assert coupon.currency == "BRL"
    assert redeem(coupon) == 2_500
    with pytest.raises(ValidationError) as caught:
        redeem(coupon, currency="USD")
    assert caught.value.field == "currency"
    assert make().discount_for(10_000) == 1_000  # a percent coupon takes any currency
    assert redeem(make(), currency="USD") == 1_000


@pytest.mark.parametrize(
    ("kind", "value", "subtotal", "discount"),
    [
        ("percent", 1_000, 10_000, 1_000),
        ("percent", 3_333, 100, 33),
        ("percent", 5_000, 5, 3),  # half rounds up
        ("percent", 10_000, 10_000, 9_999),  # at least one cent is left to pay
        ("fixed", 2_500, 10_000, 2_500),
        ("fixed", 20_000, 10_000, 9_999),
    ],
)
def test_the_discount(kind, value, subtotal, discount):
    coupon = make(kind=kind, value=value, currency="BRL" if kind == "fixed" else None)
    assert redeem(coupon, subtotal=subtotal) == discount


@given(value=st.integers(1, 10_000), subtotal=st.integers(2, 10**9))
def test_a_percent_discount_always_leaves_something_to_pay(value, subtotal):
    coupon = make(value=value, usage_limit=None)
    assert 0 <= coupon.discount_for(subtotal) <= subtotal - 1


@pytest.mark.parametrize("subtotal", [1, 4])
def test_a_coupon_that_gives_nothing_is_refused(subtotal):
    coupon = make(value=100)
    with pytest.raises(ValidationError, match="gives no discount") as caught:
        redeem(coupon, subtotal=subtotal)
    assert caught.value.field == "coupon_code"
    assert coupon.used == 0


# -- creation --------------------------------------------------------------------------


def test_the_id_derives_from_the_account_and_the_normalised_code():
    coupon = make(code="  Welcome10 ")
    assert coupon.code == "WELCOME10"
    assert coupon.id == Coupon.create_id(ACCOUNT, "welcome10")
    assert coupon.id != Coupon.create_id("acct-2", "WELCOME10")
    assert isinstance(coupon.id, UUID)
    assert (coupon.status, coupon.used, coupon.product_ids) == ("active", 0, [])


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"code": "x"}, "code"),
        ({"code": "WELCOME 10"}, "code"),
        ({"code": "A" * 41}, "code"),
        ({"kind": "bogo"}, "kind"),
        ({"value": 0}, "value"),
        ({"value": 10_001}, "value"),
        ({"currency": "BRL"}, "currency"),  # a percent coupon has no currency
        ({"kind": "fixed", "value": 100}, "currency"),
        ({"kind": "fixed", "value": 0, "currency": "BRL"}, "value"),
        ({"kind": "fixed", "value": 100, "currency": "XXX"}, "currency"),
        ({"usage_limit": 0}, "usage_limit"),
        ({"valid_until": T0}, "valid_until"),
        ({"product_ids": ("course-1", " ")}, "product_ids"),
    ],
)
def test_bad_values_are_refused_by_name(extra, field):
    with pytest.raises(ValidationError) as caught:
        make(**extra)
    assert caught.value.field == field


def test_normalize_code():
    assert normalize_code(" black-friday_25 ") == "BLACK-FRIDAY_25"
    with pytest.raises(ValidationError):
        normalize_code("-LEADING")
