"""The Subscription state machine, driven directly (no store) at fixed business instants.

Every (state, command) pair is covered: the legal ones by `LEGAL` and
`test_every_legal_transition_adds_events`, all the others by
`test_every_illegal_transition_is_refused_and_writes_nothing`. The invoices of the
cycles are only ids here; tests/integration/test_subscription.py moves them too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from payledger.domain.envelope import acting
from payledger.domain.errors import InvalidTransition, ValidationError
from payledger.domain.splits import SplitRules
from payledger.domain.subscription import PeriodEnd, Subscription
from payledger.domain.time import charge_date, local_instant, next_charge_date
from payledger.settings import Settings
from tests.factories import CUSTOMER, SPLIT
from tests.unit.test_invoice import DAY, MINUTE, SECOND, T0, envelope, frozen

TZ = "America/Sao_Paulo"  # UTC-3: T0 is 09:00 local on Monday 2 March 2026
PLAN: dict[str, Any] = {
    "plan_id": "monthly", "product_id": "course-1", "price": 4_990, "currency": "BRL",
    "interval_months": 1, "trial_days": 0,
}
RULES = SplitRules.model_validate(SPLIT).model_dump(mode="json")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


class Story:
    """One subscription and a business clock that moves forward with every command."""

    def __init__(self, trial_days: int = 0, interval: int = 1, start: datetime = T0,
                 timezone: str = TZ) -> None:
        self.now = start
        plan = {**PLAN, "trial_days": trial_days, "interval_months": interval}
        with acting(envelope(start)):
            self.sub = Subscription.start(
                id=uuid4(), customer=dict(CUSTOMER), plan=plan, payment_method="card-tok-1",
                split_rules=RULES, now=start, timezone=timezone,
                first_invoice_id=None if trial_days else uuid4(),
            )

    def do(self, call: Callable[..., Any], *args: Any, after: timedelta = MINUTE,
           at: datetime | None = None) -> Any:
        target = at if at is not None else self.now + after
        assert target >= self.now, "the business clock never goes back"
        self.now = target
        with acting(envelope(self.now)):
            return call(*args)

    # steps the recipes share ------------------------------------------------------------

    def pay(self) -> Story:
        self.do(self.sub.record_payment, self.sub.open_invoice_id)
        return self

    def decline(self, **dunning: Any) -> bool:
        sub = self.sub
        return bool(self.do(lambda: sub.record_failure(
            sub.open_invoice_id, sub.failed_attempt + 1, "insufficient funds", **dunning)))

    def retry(self) -> UUID:
        assert self.sub.retry_at is not None
        return self.do(lambda: self.sub.retry(self.now), at=max(self.now, self.sub.retry_at))

    def end_period(self, limit: int = 5) -> PeriodEnd:
        at = max(self.now, self.sub.period_end)
        return self.do(lambda: self.sub.end_period(self.now, uuid4(), limit), at=at)

    def renew(self) -> Story:
        assert self.end_period().charge is not None
        return self

    def fail_cycle(self) -> Story:
        """Decline the first attempt and every retry (1, 3, 5 days apart)."""
        assert not self.decline()
        for _ in range(2):
            self.retry()
            assert not self.decline()
        self.retry()
        assert self.decline()
        return self

    def expire(self) -> Any:
        assert self.sub.incomplete_expires_at is not None
        at = max(self.now, self.sub.incomplete_expires_at)
        return self.do(lambda: self.sub.expire(self.now), at=at)

    def then(self, call: Callable[[Subscription], Any]) -> Story:
        self.do(call, self.sub)
        return self


def names(sub: Subscription) -> list[str]:
    return [type(e).__name__ for e in sub.pending_events]


# -- recipes: how to reach each state ---------------------------------------------------


def _active() -> Story:
    return Story().pay()


def _retrying() -> Story:
    story = _active().renew()
    story.decline()
    return story


def _expired() -> Story:
    story = Story()
    story.expire()
    return story


def _unpaid() -> Story:
    story = _active()
    for _ in range(5):
        story.renew().fail_cycle()
    return story


RECIPES: dict[str, tuple[Callable[[], Story], str]] = {
    "incomplete": (Story, "incomplete"),
    "trialing": (lambda: Story(trial_days=7), "trialing"),
    "trial ended, charging": (lambda: Story(trial_days=7).renew(), "trialing"),
    "active": (_active, "active"),
    "active, renewal charging": (lambda: _active().renew(), "active"),
    "past due, retrying": (_retrying, "past_due"),
    "past due, cycle failed": (lambda: _active().renew().fail_cycle(), "past_due"),
    "unpaid": (_unpaid, "unpaid"),
    "paused": (lambda: _active().then(lambda s: s.pause()), "paused"),
    "cancel scheduled": (lambda: _active().then(lambda s: s.schedule_cancel("u", "r")),
                         "active"),
    "auto-renew off": (lambda: _active().then(lambda s: s.set_auto_renew(False, "u")), "active"),
    "canceled": (lambda: _active().then(lambda s: s.cancel("u", "r")), "canceled"),
    "canceled unpaid": (lambda: Story().then(lambda s: s.cancel("u", "r")), "canceled"),
    "expired": (_expired, "expired"),
}


# Each command, run at an instant where only the state can refuse it.
COMMANDS: dict[str, tuple[str, Callable[[Story], object]]] = {
    "pay": ("record a paid cycle",
            lambda s: s.do(s.sub.record_payment, s.sub.open_invoice_id or uuid4())),
    "decline": ("record a failed renewal charge", lambda s: s.do(lambda: s.sub.record_failure(
        s.sub.open_invoice_id or uuid4(), s.sub.failed_attempt + 1, "declined"))),
    "retry": ("retry a renewal charge", lambda s: s.do(
        lambda: s.sub.retry(s.now), at=max(s.now, s.sub.retry_at or s.now) + MINUTE)),
    "end period": ("end the period", lambda s: s.do(
        lambda: s.sub.end_period(s.now, uuid4()), at=max(s.now, s.sub.period_end) + MINUTE)),
    "expire": ("expire", lambda s: s.do(
        lambda: s.sub.expire(s.now),
        at=max(s.now, s.sub.incomplete_expires_at or s.now) + MINUTE)),
    "cancel": ("cancel", lambda s: s.do(s.sub.cancel, "support-1", "asked by the buyer")),
    "cancel at period end": ("cancel at the period end",
                             lambda s: s.do(s.sub.schedule_cancel, "support-1", "too dear")),
    "pause": ("pause", lambda s: s.do(s.sub.pause)),
    "resume": ("resume", lambda s: s.do(s.sub.resume)),
    "reactivate": ("reactivate", lambda s: s.do(s.sub.reactivate, "support-1")),
    "reactivate and charge": ("reactivate and charge",
                              lambda s: s.do(s.sub.reactivate, "support-1", uuid4())),
    "auto-renew off": ("turn auto-renew off",
                       lambda s: s.do(s.sub.set_auto_renew, False, "buyer-1")),
    "auto-renew on": ("turn auto-renew on", lambda s: s.do(s.sub.set_auto_renew, True, "buyer-1")),
    "switch plan": ("switch the plan", lambda s: s.do(
        s.sub.switch_plan, {**s.sub.plan, "plan_id": "quarterly", "interval_months": 3})),
    "change charge date": ("change the charge date",
                           lambda s: s.do(s.sub.change_charge_day, s.sub.charge_day % 28 + 1)),
    "change email": ("change the email", lambda s: s.do(s.sub.change_email, "new@example.com")),
}

MANAGE = {"cancel", "cancel at period end", "auto-renew off", "switch plan", "change email"}
LEGAL: dict[str, set[str]] = {
    "incomplete": {"pay", "expire", "cancel", "change email"},
    "trialing": {"end period", *MANAGE},
    "trial ended, charging": {"pay", "decline", "end period", *MANAGE},
    "active": {"end period", "pause", "change charge date", *MANAGE},
    "active, renewal charging": {"pay", "decline", "end period", "change charge date", *MANAGE},
    "past due, retrying": {"pay", "decline", "retry", "end period", "change charge date",
                           *MANAGE},
    "past due, cycle failed": {"end period", "change charge date", *MANAGE},
    "unpaid": {"end period", "cancel", "reactivate", "reactivate and charge", "change email"},
    "paused": {"end period", "resume", "change charge date", *MANAGE},
    "cancel scheduled": {"end period", "pause", "change charge date",
                         *MANAGE - {"cancel at period end"}},
    "auto-renew off": {"end period", "pause", "change charge date", "auto-renew on",
                       *MANAGE - {"auto-renew off"}},
    "canceled": {"reactivate", "reactivate and charge"},
    "canceled unpaid": {"reactivate and charge"},
    "expired": set(),
}

PAIRS = [(recipe, command) for recipe in RECIPES for command in COMMANDS]
LEGAL_PAIRS = [pair for pair in PAIRS if pair[1] in LEGAL[pair[0]]]
ILLEGAL_PAIRS = [pair for pair in PAIRS if pair[1] not in LEGAL[pair[0]]]


def test_the_tables_cover_every_state():
    assert set(LEGAL) == set(RECIPES)
    reached = {status for _, status in RECIPES.values()}
    assert reached == {"incomplete", "trialing", "active", "past_due", "unpaid", "paused",
                       "canceled", "expired"}
    for recipe, (build, status) in RECIPES.items():
        assert build().sub.status == status, recipe


@pytest.mark.parametrize(("recipe", "command"), LEGAL_PAIRS)
def test_every_legal_transition_adds_events(recipe, command):
    story = RECIPES[recipe][0]()
    before = len(story.sub.pending_events)
    COMMANDS[command][1](story)
    assert len(story.sub.pending_events) > before


@pytest.mark.parametrize(("recipe", "command"), ILLEGAL_PAIRS)
def test_every_illegal_transition_is_refused_and_writes_nothing(recipe, command):
    build, status = RECIPES[recipe]
    story = build()
    text, run = COMMANDS[command]
    before = frozen(story.sub)
    with pytest.raises(InvalidTransition) as caught:
        run(story)
    assert frozen(story.sub) == before
    assert (caught.value.kind, caught.value.state, caught.value.command) == (
        "Subscription", status, text)
    assert status in str(caught.value)


# -- the start and the first charge -------------------------------------------------------


def test_a_sale_is_incomplete_until_its_first_invoice_is_paid():
    story = Story()
    sub = story.sub
    first = sub.open_invoice_id
    assert (sub.status, sub.cycle, sub.invoice_ids, sub.charge_day) == (
        "incomplete", 1, [first], 2)
    assert (sub.period_start, sub.period_end) == (T0, utc(2026, 4, 2, 12))
    assert sub.incomplete_expires_at == T0 + timedelta(hours=23)
    story.pay()
    assert (sub.status, sub.paid_cycles, sub.open_invoice_id) == ("active", 1, None)
    assert names(sub) == ["Created", "CyclePaid"]
    assert sub.pending_events[-1].invoice_id == first


def test_an_unpaid_first_charge_expires_after_the_window_and_not_before():
    story = Story()
    first = story.sub.open_invoice_id
    deadline = T0 + timedelta(hours=23)
    before = frozen(story.sub)
    with pytest.raises(InvalidTransition, match="it expires at"):
        story.do(lambda: story.sub.expire(story.now), at=deadline - SECOND)
    assert frozen(story.sub) == before
    assert story.expire() == first  # the handler voids it
    assert (story.sub.status, story.sub.open_invoice_id) == ("expired", None)
    assert story.sub.pending_events[-1].expired_at == deadline
    assert not story.sub.open


def test_declines_of_the_first_charge_are_left_to_the_checkout():
    story = Story()
    with pytest.raises(InvalidTransition) as caught:
        story.decline()
    assert caught.value.state == "incomplete"


def test_a_trial_charges_nothing_until_it_ends_and_then_renews_on_that_day():
    story = Story(trial_days=14)
    sub = story.sub
    trial_end = T0 + 14 * DAY
    assert (sub.status, sub.cycle, sub.open_invoice_id, sub.invoice_ids) == (
        "trialing", 0, None, [])
    assert (sub.trial_ends_at, sub.period_end, sub.charge_day) == (trial_end, trial_end, 16)
    assert sub.incomplete_expires_at is None
    outcome = story.end_period()
    assert outcome == PeriodEnd(charge=sub.open_invoice_id)
    assert (sub.status, sub.cycle, sub.period_start, sub.period_end) == (
        "trialing", 1, trial_end, utc(2026, 4, 16, 12))
    story.pay()
    assert (sub.status, sub.paid_cycles) == ("active", 1)


# -- renewal dates -------------------------------------------------------------------------


def test_a_renewal_falls_on_the_charge_day_at_the_local_time_of_the_start():
    story = Story().pay()
    story.renew()
    sub = story.sub
    assert (sub.cycle, sub.period_start, sub.period_end) == (
        2, utc(2026, 4, 2, 12), utc(2026, 5, 2, 12))
    event = sub.pending_events[-1]
    assert (type(event).__name__, event.cycle, event.invoice_id, event.plan) == (
        "Renewed", 2, sub.open_invoice_id, PLAN)
    assert sub.invoice_ids[-1] == sub.open_invoice_id
    assert len(sub.invoice_ids) == 2


def test_the_charge_day_is_the_local_one_and_is_clamped_to_short_months():
    # 31 Jan 2026 at 01:00 UTC is still 30 Jan in Sao Paulo
    assert Story(start=utc(2026, 1, 31, 1)).sub.charge_day == 30
    story = Story(start=utc(2026, 1, 31, 15)).pay()
    ends = []
    for _ in range(3):
        story.renew()
        ends.append(story.sub.period_end)
    assert story.sub.charge_day == 31
    assert [e.date().isoformat() for e in ends] == ["2026-03-31", "2026-04-30", "2026-05-31"]
    assert story.sub.pending_events[0].period_end == utc(2026, 2, 28, 15)


@pytest.mark.parametrize(("months", "end"), [(3, utc(2026, 6, 2, 12)), (6, utc(2026, 9, 2, 12)),
                                             (12, utc(2027, 3, 2, 12))])
def test_longer_intervals_renew_that_many_months_later(months, end):
    assert Story(interval=months).sub.period_end == end


def test_charge_dates():
    assert charge_date(utc(2026, 12, 15, 12), 1, 31, TZ) == utc(2027, 1, 31, 12)
    assert charge_date(utc(2028, 1, 31, 12), 1, 31, TZ) == utc(2028, 2, 29, 12)
    assert next_charge_date(utc(2026, 3, 10, 12), 10, TZ, utc(2026, 1, 1, 13)) == utc(
        2026, 3, 10, 13)
    assert next_charge_date(utc(2026, 3, 10, 14), 10, TZ, utc(2026, 1, 1, 13)) == utc(
        2026, 4, 10, 13)


NY = "America/New_York"  # clocks jump 02:00 -> 03:00 on 8 March 2026, back on 1 November


def test_renewals_keep_the_local_time_of_the_purchase_across_daylight_saving():
    """Issue 17, item 7: bought at 02:30 on 8 February (EST): on 8 March 02:30 does not
    exist, so the first valid instant (03:00 EDT); from April on 02:30 again, not 03:30."""
    story = Story(start=utc(2026, 2, 8, 7, 30), timezone=NY).pay()
    ends = []
    for _ in range(10):
        story.renew().pay()
        ends.append(story.sub.period_end.astimezone(ZoneInfo(NY)))
    assert story.sub.pending_events[0].period_end == utc(2026, 3, 8, 7)  # 03:00 EDT
    assert [(e.month, e.day, e.hour, e.minute) for e in ends] == [
        (month, 8, 2, 30) for month in range(4, 13)] + [(1, 8, 2, 30)]


def test_a_trial_ends_on_its_local_day_and_time_across_daylight_saving():
    """A 14-day trial from 1 March 23:30 (EST) ends 15 March 23:30 (EDT), not 16 March
    00:30: 14 local days, not 14 x 24 hours; the charge day is the 15th."""
    story = Story(trial_days=14, start=utc(2026, 3, 2, 4, 30), timezone=NY)
    assert story.sub.trial_ends_at == utc(2026, 3, 16, 3, 30)
    assert story.sub.charge_day == 15


def test_a_wall_time_that_occurs_twice_is_its_first_occurrence():
    assert local_instant(date(2026, 11, 1), time(1, 30), NY) == utc(2026, 11, 1, 5, 30)
    assert local_instant(date(2026, 3, 8), time(2, 30), NY) == utc(2026, 3, 8, 7)


def test_a_period_does_not_end_early():
    story = Story().pay()
    before = frozen(story.sub)
    with pytest.raises(InvalidTransition, match="it ends at"):
        story.do(lambda: story.sub.end_period(story.now, uuid4()),
                 at=story.sub.period_end - SECOND)
    assert frozen(story.sub) == before


# -- dunning ------------------------------------------------------------------------------


def test_a_declined_renewal_is_retried_after_1_3_and_5_days_then_the_cycle_fails():
    story = Story().pay().renew()
    sub = story.sub
    invoice = sub.open_invoice_id
    retried_at = []
    for delay in (1, 3, 5):
        assert story.decline() is False
        assert (sub.status, sub.retry_at) == ("past_due", story.now + delay * DAY)
        too_early = frozen(sub)
        with pytest.raises(InvalidTransition, match="the retry is due at"):
            story.do(lambda: sub.retry(story.now), at=sub.retry_at - SECOND)
        assert frozen(sub) == too_early
        assert story.retry() == invoice
        retried_at.append(story.now)
    assert story.decline() is True
    assert (sub.status, sub.failed_cycles, sub.open_invoice_id, sub.retry_at) == (
        "past_due", 1, None, None)
    failed, cycle_failed = sub.pending_events[-2:]
    assert (failed.attempt, failed.retry_at) == (4, None)
    assert (cycle_failed.cycle, cycle_failed.invoice_id, cycle_failed.consecutive) == (
        2, invoice, 1)
    assert [e.retry for e in sub.pending_events if type(e).__name__ == "RetryRequested"] == [
        1, 2, 3]
    assert retried_at[-1] - retried_at[0] == 8 * DAY + 2 * MINUTE


def test_the_retry_schedule_and_the_limit_are_configurable():
    story = Story().pay().renew()
    assert story.decline(retry_days=(), failed_cycles_limit=1) is True
    assert (story.sub.status, story.sub.failed_cycles) == ("unpaid", 1)
    assert names(story.sub)[-2:] == ["CycleFailed", "MarkedUnpaid"]


def test_a_repeated_report_of_a_failed_attempt_is_refused():
    story = Story().pay().renew()
    story.decline()
    before = frozen(story.sub)
    with pytest.raises(InvalidTransition, match="attempt 1 was already"):
        story.do(lambda: story.sub.record_failure(story.sub.open_invoice_id, 1, "again"))
    assert frozen(story.sub) == before


def test_only_the_open_cycles_invoice_is_followed():
    story = Story().pay().renew()
    before = frozen(story.sub)
    with pytest.raises(InvalidTransition, match="is not the open cycle's"):
        story.do(story.sub.record_payment, uuid4())
    assert frozen(story.sub) == before


def test_a_retried_renewal_that_is_paid_makes_the_subscription_active_again():
    story = Story().pay().renew()
    story.decline()
    story.retry()
    story.pay()
    sub = story.sub
    assert (sub.status, sub.failures, sub.failed_attempt, sub.retry_at, sub.paid_cycles) == (
        "active", 0, 0, None, 2)


def test_five_failed_cycles_make_it_unpaid_and_the_period_end_cancels_it():
    story = _active()
    sub = story.sub
    for cycle in range(1, 6):
        story.renew().fail_cycle()
        assert sub.failed_cycles == cycle
        assert sub.status == ("unpaid" if cycle == 5 else "past_due")
    assert sub.pending_events[-1].failed_cycles == 5
    assert sub.timers() == {"end_period": sub.period_end}
    assert story.end_period() == PeriodEnd()
    assert (sub.status, sub.canceled_by, sub.cancel_reason) == (
        "canceled", "system", "5 consecutive cycles failed")
    assert sub.pending_events[-1].at_period_end is True
    assert sub.paid_cycles == 1  # the first, never refunded
    assert len(sub.invoice_ids) == 6


def test_a_paid_cycle_resets_the_count_of_consecutive_failures():
    story = _active()
    for _ in range(4):
        story.renew().fail_cycle()
    story.renew().pay()
    story.renew().fail_cycle()
    assert (story.sub.status, story.sub.failed_cycles) == ("past_due", 1)


def test_a_cycle_still_unpaid_at_the_next_period_end_fails_and_the_next_one_begins():
    story = Story().pay().renew()
    stale = story.sub.open_invoice_id
    outcome = story.end_period()
    sub = story.sub
    assert outcome == PeriodEnd(uncollectible=stale, charge=sub.open_invoice_id)
    assert names(sub)[-2:] == ["CycleFailed", "Renewed"]
    assert sub.pending_events[-2].reason == "the next period began unpaid"
    assert (sub.status, sub.failed_cycles, sub.cycle) == ("past_due", 1, 3)


def test_a_stale_fifth_cycle_cancels_at_once_without_a_new_invoice():
    story = _active()
    for _ in range(4):
        story.renew().fail_cycle()
    story.renew()
    stale = story.sub.open_invoice_id
    assert story.end_period() == PeriodEnd(uncollectible=stale)
    assert names(story.sub)[-3:] == ["CycleFailed", "MarkedUnpaid", "Canceled"]
    assert story.sub.status == "canceled"


# -- cancel, pause, reactivate -------------------------------------------------------------


def test_cancel_now_records_who_and_why_and_gives_up_the_charge_being_collected():
    story = Story().pay().renew()
    charging = story.sub.open_invoice_id
    voided = story.do(story.sub.cancel, "support-7", "buyer asked by chat")
    sub = story.sub
    assert voided == charging
    assert (sub.status, sub.canceled_by, sub.cancel_reason, sub.canceled_at) == (
        "canceled", "support-7", "buyer asked by chat", story.now)
    event = sub.pending_events[-1]
    assert (event.at_period_end, event.voided_invoice_id) == (False, charging)
    assert sub.paid_cycles == 1
    assert sub.timers() == {}


def test_cancel_at_period_end_keeps_the_period_and_then_cancels_without_charging():
    story = _active()
    story.do(story.sub.schedule_cancel, "producer-1", "product discontinued")
    assert (story.sub.status, story.sub.cancel_at_period_end) == ("active", True)
    assert story.end_period() == PeriodEnd()
    sub = story.sub
    assert (sub.status, sub.canceled_by, sub.cancel_reason, sub.canceled_at) == (
        "canceled", "producer-1", "product discontinued", utc(2026, 4, 2, 12))
    assert sub.pending_events[-1].at_period_end is True
    assert sub.cycle == 1


def test_auto_renew_off_ends_the_subscription_at_the_period_end():
    story = _active()
    story.do(story.sub.set_auto_renew, False, "buyer-1")
    story.end_period()
    assert (story.sub.status, story.sub.canceled_by, story.sub.cancel_reason) == (
        "canceled", "buyer-1", "auto-renew was turned off")


def test_auto_renew_turned_on_again_renews():
    story = _active()
    story.do(story.sub.set_auto_renew, False, "buyer-1")
    story.do(story.sub.set_auto_renew, True, "buyer-1")
    story.renew()
    assert (story.sub.status, story.sub.cycle) == ("active", 2)


def test_a_paused_subscription_skips_its_periods_until_resumed():
    story = _active()
    story.do(story.sub.pause)
    assert story.end_period() == PeriodEnd()
    sub = story.sub
    assert names(sub)[-1] == "CycleSkipped"
    assert (sub.status, sub.cycle, sub.period_start, sub.period_end) == (
        "paused", 1, utc(2026, 4, 2, 12), utc(2026, 5, 2, 12))
    story.do(sub.resume)
    story.renew()
    assert (sub.status, sub.cycle, sub.period_start) == ("active", 2, utc(2026, 5, 2, 12))


def test_a_pause_waits_for_the_renewal_being_collected():
    story = _active().renew()
    with pytest.raises(InvalidTransition, match="a renewal charge is being collected"):
        story.do(story.sub.pause)


def test_reactivation_gives_a_new_period_to_the_next_charge_day_without_charging():
    story = _active()
    story.do(story.sub.cancel, "buyer-1", "no time", at=utc(2026, 3, 20, 12))
    story.do(story.sub.reactivate, "support-1", at=utc(2026, 5, 10, 15))
    sub = story.sub
    assert (sub.status, sub.cycle, sub.open_invoice_id, sub.charge_day) == ("active", 1, None, 2)
    assert (sub.period_start, sub.period_end) == (utc(2026, 5, 10, 15), utc(2026, 6, 2, 12))
    assert (sub.canceled_by, sub.cancel_reason, sub.auto_renew) == (None, None, True)
    assert sub.pending_events[-1].reactivated_by == "support-1"


def test_a_reactivated_subscription_forgets_an_earlier_scheduled_cancellation():
    story = _active()
    for _ in range(4):
        story.renew().fail_cycle()
    story.renew()
    story.do(story.sub.schedule_cancel, "buyer-1", "leaving")
    story.fail_cycle()
    assert (story.sub.status, story.sub.cancel_at_period_end) == ("unpaid", True)
    story.do(story.sub.reactivate, "support-1")
    story.renew()
    assert (story.sub.status, story.sub.cancel_at_period_end) == ("active", False)


def test_reactivation_without_a_charge_needs_something_paid_before():
    story = Story()
    story.do(story.sub.cancel, "buyer-1", "changed my mind")
    with pytest.raises(InvalidTransition, match="nothing was ever paid"):
        story.do(story.sub.reactivate, "support-1")


def test_reactivate_and_charge_begins_a_cycle_today_and_moves_the_charge_day():
    story = _unpaid()
    invoice_id = uuid4()
    story.do(story.sub.reactivate, "support-1", invoice_id, at=utc(2026, 9, 20, 18))
    sub = story.sub
    assert (sub.status, sub.cycle, sub.open_invoice_id, sub.charge_day, sub.failed_cycles) == (
        "active", 7, invoice_id, 20, 0)
    assert (sub.period_start, sub.period_end) == (utc(2026, 9, 20, 18), utc(2026, 10, 20, 18))
    assert sub.pending_events[-1].invoice_id == invoice_id
    story.pay()
    assert (sub.status, sub.paid_cycles) == ("active", 2)


# -- plan, charge date, email --------------------------------------------------------------


def test_a_plan_switch_takes_effect_at_the_next_renewal():
    story = _active()
    quarterly = {**PLAN, "plan_id": "quarterly", "price": 12_990, "interval_months": 3}
    story.do(story.sub.switch_plan, quarterly)
    sub = story.sub
    assert (sub.plan, sub.pending_plan) == (PLAN, quarterly)
    assert sub.pending_events[-1].effective_at == sub.period_end
    story.renew()
    assert (sub.plan, sub.pending_plan) == (quarterly, None)
    assert (sub.period_start, sub.period_end) == (utc(2026, 4, 2, 12), utc(2026, 7, 2, 12))
    assert sub.pending_events[-1].plan == quarterly


def test_switching_back_to_the_current_plan_undoes_a_switch():
    story = _active()
    story.do(story.sub.switch_plan, {**PLAN, "plan_id": "premium", "price": 9_990})
    story.do(story.sub.switch_plan, dict(PLAN))
    assert story.sub.pending_plan is None
    story.renew()
    assert story.sub.plan == PLAN


@pytest.mark.parametrize(("change", "field"), [
    ({"product_id": "course-2"}, "plan.product_id"),
    ({"currency": "USD"}, "plan.currency"),
    ({"interval_months": 2}, "plan.interval_months"),
    ({}, "plan"),
])
def test_a_bad_plan_switch_is_refused_and_writes_nothing(change, field):
    story = _active()
    before = frozen(story.sub)
    with pytest.raises(ValidationError) as caught:
        story.do(story.sub.switch_plan, {**PLAN, **change})
    assert caught.value.field == field
    assert frozen(story.sub) == before


@pytest.mark.parametrize(("now", "day", "next_renewal"), [
    (utc(2026, 3, 10), 20, utc(2026, 4, 20, 12)),   # later in the month it was due in
    (utc(2026, 3, 10), 1, utc(2026, 4, 1, 12)),     # earlier in that month
    (utc(2026, 4, 1, 13), 1, utc(2026, 5, 1, 12)),  # that day has passed: the month after
    (utc(2026, 3, 10), 31, utc(2026, 4, 30, 12)),   # clamped to April's end
])
def test_a_new_charge_date_moves_the_next_renewal(now, day, next_renewal):
    story = _active()
    story.do(story.sub.change_charge_day, day, at=now)
    assert (story.sub.charge_day, story.sub.period_end) == (day, next_renewal)
    story.renew()
    assert story.sub.period_start == next_renewal


@pytest.mark.parametrize("day", [0, 32, 2])
def test_a_bad_charge_day_is_refused(day):
    story = _active()
    with pytest.raises(ValidationError) as caught:
        story.do(story.sub.change_charge_day, day)
    assert caught.value.field == "charge_day"


def test_the_buyers_email_changes_until_the_subscription_ends():
    story = _active()
    story.do(story.sub.change_email, "Ana.Nova@Example.com")
    assert story.sub.customer == {**CUSTOMER, "email": "ana.nova@example.com"}
    events = len(story.sub.pending_events)
    story.do(story.sub.change_email, "ana.nova@example.com")
    assert len(story.sub.pending_events) == events  # unchanged: nothing written
    with pytest.raises(ValidationError) as caught:
        story.do(story.sub.change_email, "not-an-email")
    assert caught.value.field == "email"


# -- timers and replay ---------------------------------------------------------------------


def test_the_timers_follow_the_state():
    story = Story()
    sub = story.sub
    assert sub.timers() == {"expire": T0 + timedelta(hours=23)}
    story.pay()
    assert sub.timers() == {"end_period": utc(2026, 4, 2, 12)}
    story.renew()
    story.decline()
    assert sub.timers() == {"end_period": utc(2026, 5, 2, 12), "retry": story.now + DAY}
    story.retry()
    assert sub.timers() == {"end_period": utc(2026, 5, 2, 12)}
    story.do(sub.cancel, "u", "r")
    assert sub.timers() == {}


def test_replaying_the_events_rebuilds_the_same_subscription():
    story = _active()
    story.do(story.sub.switch_plan, {**PLAN, "plan_id": "premium", "price": 9_990})
    story.renew().fail_cycle()
    story.do(story.sub.change_charge_day, 15)
    story.renew().pay()
    story.do(story.sub.pause)
    story.end_period()
    story.do(story.sub.resume)
    story.do(story.sub.change_email, "other@example.com")
    story.do(story.sub.schedule_cancel, "u", "r")
    story.end_period()
    story.do(story.sub.reactivate, "u", uuid4())
    replayed = None
    for event in story.sub.pending_events:
        replayed = event.mutate(replayed)
    assert frozen(replayed) | {"pending": 0} == frozen(story.sub) | {"pending": 0}


def test_the_dunning_settings_come_from_the_environment():
    settings = Settings.from_env({"PAYLEDGER_DUNNING_RETRY_DAYS": "2, 4",
                                  "PAYLEDGER_DUNNING_FAILED_CYCLES": "3"})
    assert (settings.dunning_retry_days, settings.dunning_failed_cycles) == ((2, 4), 3)
    assert Settings().dunning_retry_days == (1, 3, 5)
    assert Settings().subscription_incomplete == timedelta(hours=23)
    with pytest.raises(ValidationError) as caught:
        Settings.from_env({"PAYLEDGER_DUNNING_RETRY_DAYS": "1,0"})
    assert caught.value.field.startswith("dunning_retry_days")
