"""Snapshots of the recurring aggregates survive the library's JSON transcoding.

An InstallmentPlan, a Subscription and a Balance, built through their commands, are
snapshotted, stored and read back through a `Mapper` with the application's
transcodings; the rebuilt aggregate holds exactly the original's state (enum statuses
come back as the plain strings they equal).
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import (
    Mapper,
)

from payledger.domain.balance import Balance, WithdrawalStatus
from payledger.domain.installments import InstallmentPlan, InstallmentState, PlanStatus
from payledger.domain.subscription import Subscription, SubscriptionStatus
from tests.unit.test_balance import SOURCE
from tests.unit.test_balance import Story as BalanceStory
from tests.unit.test_fastjson import LIBRARY
from tests.unit.test_installments import PlanStory
from tests.unit.test_subscription import Story as SubscriptionStory


@pytest.fixture
def mapper() -> Mapper[Any]:
    return Mapper(transcoder=LIBRARY)


def round_trip(mapper: Mapper[Any], aggregate: Any) -> Any:
    aggregate.collect_events()  # saved: nothing pending
    snapshot = Snapshot.take(aggregate)
    rebuilt = mapper.to_domain_event(mapper.to_stored_event(snapshot)).mutate(None)
    assert type(rebuilt) is type(aggregate)
    assert rebuilt.__dict__ == aggregate.__dict__
    return rebuilt


def test_an_installment_plan_with_paid_and_overdue_installments(mapper):
    story = PlanStory(count=4, price=40_000, fee=1_003).invoice(1).pay(1).invoice(2).pay(2)
    story.invoice(3).overdue(3)
    plan = story.plan
    story.do(plan.reprocess, 3)
    story.do(plan.request_refunds, [{"number": 2, "refund_id": str(uuid4()), "amount": 100}],
             "partial", "tester")
    assert plan.states == ("paid", "paid", "overdue", "scheduled")
    assert plan.status == PlanStatus.IN_PROGRESS_WITH_ISSUES

    rebuilt = round_trip(mapper, plan)
    assert isinstance(rebuilt, InstallmentPlan)
    assert rebuilt.status == plan.status
    assert rebuilt.installment(3)["state"] == InstallmentState.OVERDUE
    assert rebuilt.installment(3)["reprocessed"] == 1
    assert rebuilt.timers() == plan.timers()


def test_a_subscription_after_a_renewal(mapper):
    story = SubscriptionStory().pay().renew()
    assert not story.decline()
    sub = story.sub
    assert (sub.cycle, sub.status) == (2, SubscriptionStatus.PAST_DUE)

    rebuilt = round_trip(mapper, sub)
    assert isinstance(rebuilt, Subscription)
    assert rebuilt.invoice_ids == sub.invoice_ids
    assert rebuilt.timers() == sub.timers()


def test_a_balance_with_a_pending_withdrawal(mapper):
    story = BalanceStory()
    story.credit(10_000)
    story.release_all()
    held = story.credit(3_000)
    story.do(story.balance.withhold, held, 1_000, SOURCE)
    withdrawal_id = story.bank().withdraw(4_000)
    balance = story.balance
    assert balance.withdrawals[str(withdrawal_id)]["status"] == WithdrawalStatus.REQUESTED
    assert balance.holds
    assert balance.receivables
    assert balance.credits_by_day

    rebuilt = round_trip(mapper, balance)
    assert isinstance(rebuilt, Balance)
    assert (rebuilt.status, rebuilt.withdrawable) == (balance.status, balance.withdrawable)
    assert rebuilt.timers() == balance.timers()
