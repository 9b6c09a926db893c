"""The Product aggregate: its coproductions' state machine, the 100% cap, and the rules
in force at an instant (no store).

A coproduction (per coproducer) is none, invited, accepted, declined or ended; every
(state, command) pair is covered by `LEGAL` and the two transition tests.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from payledger.domain.envelope import acting
from payledger.domain.errors import InvalidTransition, ValidationError
from payledger.domain.product import Product, split_rules
from payledger.domain.splits import split
from tests.unit.test_invoice import DAY, MINUTE, SECOND, T0, envelope, frozen

ACCOUNT = "acct-1"
CO = "coproducer-1"


def make(**extra: Any) -> Product:
    fields: dict[str, Any] = {
        "account": ACCOUNT, "product_id": "course-1", "name": "The course",
        "affiliate_commission_bps": 3_000,
    }
    with acting(envelope(T0)):
        return Product.register(**{**fields, **extra})


def run(at: datetime, call: Callable[..., Any], *args: Any) -> Any:
    with acting(envelope(at)):
        return call(*args)


class Coproduction:
    """One product and one coproducer, moved by a business clock going forward."""

    def __init__(self) -> None:
        self.product = make()
        self.now = T0

    def do(self, call: Callable[..., Any], *args: Any) -> Coproduction:
        self.now += MINUTE
        run(self.now, call, *args)
        return self

    def invite(self, coproducer: str = CO, bps: int = 2_500) -> Coproduction:
        return self.do(self.product.invite_coproducer, coproducer, bps, self.now)

    def accept(self, coproducer: str = CO) -> Coproduction:
        return self.do(self.product.accept_coproduction, coproducer)

    @property
    def state(self) -> str:
        found = self.product.coproduction(CO)
        return "none" if found is None else found["status"]


RECIPES: dict[str, Callable[[], Coproduction]] = {
    "none": Coproduction,
    "invited": lambda: Coproduction().invite(),
    "accepted": lambda: Coproduction().invite().accept(),
    "declined": lambda: (s := Coproduction().invite()).do(s.product.decline_coproduction,
                                                          CO, "no time"),
    "ended": lambda: (s := Coproduction().invite().accept()).do(s.product.end_coproduction,
                                                                CO, "partnership over"),
}
COMMANDS: dict[str, tuple[str, Callable[[Coproduction], object]]] = {
    "invite": ("invite a coproducer", lambda s: s.invite(bps=1_000)),
    "accept": ("accept a coproduction", lambda s: s.accept()),
    "decline": ("decline a coproduction",
                lambda s: s.do(s.product.decline_coproduction, CO, "no")),
    "end": ("end a coproduction", lambda s: s.do(s.product.end_coproduction, CO, "over")),
}
LEGAL: dict[str, dict[str, str]] = {
    "none": {"invite": "invited"},
    "invited": {"accept": "accepted", "decline": "declined", "end": "ended"},
    "accepted": {"end": "ended"},
    "declined": {"invite": "invited"},
    "ended": {"invite": "invited"},
}
PAIRS = [(state, command) for state in RECIPES for command in COMMANDS]


def test_the_tables_cover_every_state():
    assert set(RECIPES) == set(LEGAL)
    for state, build in RECIPES.items():
        assert build().state == state


@pytest.mark.parametrize(("state", "command"), [p for p in PAIRS if p[1] in LEGAL[p[0]]])
def test_every_legal_transition(state, command):
    story = RECIPES[state]()
    before = len(story.product.pending_events)
    COMMANDS[command][1](story)
    assert story.state == LEGAL[state][command]
    assert len(story.product.pending_events) == before + 1


@pytest.mark.parametrize(("state", "command"), [p for p in PAIRS if p[1] not in LEGAL[p[0]]])
def test_every_illegal_transition_is_refused_and_writes_nothing(state, command):
    story = RECIPES[state]()
    text, call = COMMANDS[command]
    before = frozen(story.product)
    with pytest.raises(InvalidTransition) as caught:
        call(story)
    assert frozen(story.product) == before
    assert (caught.value.kind, caught.value.state, caught.value.command) == (
        "Coproduction", state, text)
    assert CO in str(caught.value)


def test_a_reinvitation_keeps_the_history():
    story = RECIPES["declined"]().invite(bps=500)
    assert [(c["status"], c["bps"]) for c in story.product.coproductions] == [
        ("declined", 2_500), ("invited", 500)]


# -- the 100% cap ------------------------------------------------------------------------


def test_accepted_shares_never_exceed_100_percent():
    story = Coproduction().invite("co-a", 6_000).accept("co-a").invite("co-b", 4_000)
    story.invite("co-c", 4_000)  # invited shares are not yet taken
    story.accept("co-b")
    before = frozen(story.product)
    with pytest.raises(ValidationError, match="already hold 10000") as caught:
        story.accept("co-c")
    assert caught.value.field == "bps"
    assert frozen(story.product) == before
    with pytest.raises(ValidationError):
        story.invite("co-d", 1)


def test_an_ended_share_is_free_again():
    story = Coproduction().invite("co-a", 10_000).accept("co-a")
    story.do(story.product.end_coproduction, "co-a", "over")
    story.invite("co-b", 10_000).accept("co-b")
    assert story.product.coproduction("co-b")["status"] == "accepted"  # type: ignore[index]


@pytest.mark.parametrize(
    ("coproducer", "bps", "field"),
    [(ACCOUNT, 1_000, "coproducer"), ("platform", 1_000, "coproducer"),
     (CO, 0, "bps"), (CO, 10_001, "bps")],
)
def test_bad_invitations_are_refused_by_name(coproducer, bps, field):
    story = Coproduction()
    with pytest.raises(ValidationError) as caught:
        story.invite(coproducer, bps)
    assert caught.value.field == field
    assert story.product.coproductions == []


# -- the rules in force -------------------------------------------------------------------


def test_coproducers_in_force_are_accepted_started_and_not_ended():
    product = make()
    run(T0, product.invite_coproducer, "co-a", 2_000, T0 + DAY)  # starts tomorrow
    run(T0, product.invite_coproducer, "co-b", 1_000, T0)
    run(T0 + 2 * MINUTE, product.accept_coproduction, "co-a")
    run(T0 + 3 * MINUTE, product.accept_coproduction, "co-b")
    run(T0 + 2 * DAY, product.end_coproduction, "co-b", "over")
    assert product.coproducers_at(T0 + MINUTE) == []  # nobody accepted yet
    assert product.coproducers_at(T0 + 3 * MINUTE) == [("co-b", 1_000)]
    assert product.coproducers_at(T0 + DAY - SECOND) == [("co-b", 1_000)]
    assert product.coproducers_at(T0 + DAY) == [("co-a", 2_000), ("co-b", 1_000)]
    assert product.coproducers_at(T0 + 2 * DAY - SECOND) == [("co-a", 2_000), ("co-b", 1_000)]
    assert product.coproducers_at(T0 + 2 * DAY) == [("co-a", 2_000)]


def test_an_invitation_never_accepted_is_never_in_force():
    product = make()
    run(T0, product.invite_coproducer, CO, 2_000, T0)
    run(T0 + MINUTE, product.decline_coproduction, CO, "no")
    assert product.coproducers_at(T0 + DAY) == []


def test_split_rules_from_the_rules_in_force():
    rules = split_rules("producer-1", [("co-a", 2_500)], ("aff-1", 3_000), 990, 100)
    parts = split(10_000, rules)
    assert [(p["party"], p["role"], p["amount"]) for p in parts] == [
        ("platform", "platform", 1_090), ("aff-1", "affiliate", 2_673),
        ("co-a", "coproducer", 1_559), ("producer-1", "producer", 4_678)]
    assert sum(p["amount"] for p in parts) == 10_000


@pytest.mark.parametrize(
    ("affiliate", "field"), [(("co-a", 3_000), "affiliate"), (None, "split")]
)
def test_a_party_named_twice_is_refused(affiliate, field):
    coproducers = [("co-a", 1_000)] if affiliate else [("co-a", 1_000), ("co-a", 500)]
    with pytest.raises(ValidationError) as caught:
        split_rules("producer-1", coproducers, affiliate, 990, 100)
    assert caught.value.field == field


# -- the product itself --------------------------------------------------------------------


def test_registration():
    product = make()
    assert product.id == Product.create_id(ACCOUNT, "course-1")
    assert product.id != Product.create_id("acct-2", "course-1")
    assert (product.producer, product.affiliate_commission_bps, product.status) == (
        ACCOUNT, 3_000, "active")


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"affiliate_commission_bps": 0}, "affiliate_commission_bps"),
     ({"affiliate_commission_bps": 10_001}, "affiliate_commission_bps")],
)
def test_bad_registrations_are_refused_by_name(extra, field):
    with pytest.raises(ValidationError) as caught:
        make(**extra)
    assert caught.value.field == field


def test_the_affiliate_commission_is_set_and_cleared():
    product = make()
    run(T0 + MINUTE, product.set_affiliate_commission, 4_000)
    run(T0 + 2 * MINUTE, product.set_affiliate_commission, None)
    assert product.affiliate_commission_bps is None
    with pytest.raises(InvalidTransition, match="already None"):
        run(T0 + 3 * MINUTE, product.set_affiliate_commission, None)
    with pytest.raises(ValidationError) as caught:
        run(T0 + 3 * MINUTE, product.set_affiliate_commission, 0)
    assert caught.value.field == "bps"
    assert len(product.pending_events) == 3
