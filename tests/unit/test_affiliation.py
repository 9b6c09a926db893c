"""The Affiliation state machine and the commission in force at an instant (no store).

requested -> approved | refused; approved -> ended; refused | ended -> requested.
Every (state, command) pair is covered by `LEGAL` and the two transition tests.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import uuid4

import pytest

from payledger.domain.affiliation import Affiliation
from payledger.domain.envelope import acting
from payledger.domain.errors import InvalidTransition, ValidationError
from tests.unit.test_invoice import DAY, MINUTE, SECOND, T0, envelope, frozen


class Story:
    def __init__(self) -> None:
        self.now = T0
        with acting(envelope(T0)):
            self.affiliation = Affiliation(id=uuid4(), product_id="course-1",
                                           affiliate="aff-1")

    def do(self, call: Callable[..., Any], *args: Any, at: datetime | None = None) -> Story:
        self.now = at or self.now + MINUTE
        with acting(envelope(self.now)):
            call(*args)
        return self

    def approve(self, bps: int | None = 3_000, at: datetime | None = None) -> Story:
        return self.do(self.affiliation.approve, bps, at=at)

    def end(self, at: datetime | None = None) -> Story:
        return self.do(self.affiliation.end, "left", at=at)


RECIPES: dict[str, Callable[[], Story]] = {
    "requested": Story,
    "approved": lambda: Story().approve(),
    "refused": lambda: (s := Story()).do(s.affiliation.reject, "not a fit"),
    "ended": lambda: Story().approve().end(),
}
COMMANDS: dict[str, tuple[str, Callable[[Story], object]]] = {
    "request": ("request an affiliation", lambda s: s.do(s.affiliation.request_again)),
    "approve": ("approve", lambda s: s.approve(2_000)),
    "refuse": ("refuse", lambda s: s.do(s.affiliation.reject, "no")),
    "end": ("end", lambda s: s.end()),
}
LEGAL: dict[str, dict[str, str]] = {
    "requested": {"approve": "approved", "refuse": "refused"},
    "approved": {"end": "ended"},
    "refused": {"request": "requested"},
    "ended": {"request": "requested"},
}
PAIRS = [(state, command) for state in RECIPES for command in COMMANDS]


def test_the_tables_cover_every_state():
    assert set(RECIPES) == set(LEGAL)
    for state, build in RECIPES.items():
        assert build().affiliation.status == state


@pytest.mark.parametrize(("state", "command"), [p for p in PAIRS if p[1] in LEGAL[p[0]]])
def test_every_legal_transition(state, command):
    story = RECIPES[state]()
    before = len(story.affiliation.pending_events)
    COMMANDS[command][1](story)
    assert story.affiliation.status == LEGAL[state][command]
    assert len(story.affiliation.pending_events) == before + 1


@pytest.mark.parametrize(("state", "command"), [p for p in PAIRS if p[1] not in LEGAL[p[0]]])
def test_every_illegal_transition_is_refused_and_writes_nothing(state, command):
    story = RECIPES[state]()
    text, call = COMMANDS[command]
    before = frozen(story.affiliation)
    with pytest.raises(InvalidTransition) as caught:
        call(story)
    assert frozen(story.affiliation) == before
    assert (caught.value.kind, caught.value.state, caught.value.command) == (
        "Affiliation", state, text)


def test_approval_needs_the_commission_the_producer_set():
    story = Story()
    before = frozen(story.affiliation)
    with pytest.raises(InvalidTransition, match="no affiliate commission"):
        story.approve(None)
    with pytest.raises(ValidationError) as caught:
        story.approve(10_001)
    assert caught.value.field == "commission_bps"
    assert frozen(story.affiliation) == before


def test_the_commission_in_force_follows_each_approval_period():
    story = Story().approve(3_000, at=T0 + DAY).end(at=T0 + 2 * DAY)
    story.do(story.affiliation.request_again, at=T0 + 3 * DAY)
    story.approve(2_000, at=T0 + 4 * DAY)
    commission_at = story.affiliation.commission_at
    assert commission_at(T0) is None  # requested, not approved
    assert commission_at(T0 + DAY) == 3_000
    assert commission_at(T0 + 2 * DAY - SECOND) == 3_000
    assert commission_at(T0 + 2 * DAY) is None  # ended
    assert commission_at(T0 + 4 * DAY - SECOND) is None  # asked again, not yet approved
    assert commission_at(T0 + 4 * DAY) == 2_000
    assert commission_at(T0 + 400 * DAY) == 2_000
    assert (story.affiliation.status, story.affiliation.commission_bps) == ("approved", 2_000)


def test_the_id_derives_from_account_product_and_affiliate():
    ids = {Affiliation.create_id(a, p, f) for a in ("acct-1", "acct-2")
           for p in ("course-1", "course-2") for f in ("aff-1", "aff-2")}
    assert len(ids) == 8
    assert Affiliation.create_id("acct-1", "course-1", "aff-1") == Affiliation.create_id(
        "acct-1", "course-1", "aff-1")
