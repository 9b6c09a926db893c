"""Release terms and the sharing of refunds, chargebacks and disputes among a sale's
parties: exact to the cent, never more than a party's stake."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payledger.domain.money import allocate
from payledger.domain.settlement_rules import (
    Outflows,
    ReleaseTerms,
    Stake,
    by_party,
    stakes,
)
from payledger.domain.splits import SplitRules, split

SP = "America/Sao_Paulo"
SPLITS = [
    {"party": "platform", "role": "platform", "amount": 1_090},
    {"party": "aff", "role": "affiliate", "amount": 2_673},
    {"party": "co", "role": "coproducer", "amount": 1_559},
    {"party": "prod", "role": "producer", "amount": 4_678},
]


@pytest.mark.parametrize(("policy", "currency", "days"), [
    ("hubla", "BRL", (15, 8, 2)),
    ("hubla", "USD", (15, 8, 2)),
    ("hotmart", "BRL", (30, 30, 30)),
    ("hotmart", "USD", (15, 15, 15)),
])
def test_release_presets(policy, currency, days):
    terms = ReleaseTerms.preset(policy, currency)
    assert (terms.days("card"), terms.days("pix"), terms.days("boleto")) == days


def test_an_override_changes_one_method_only():
    terms = ReleaseTerms.preset("hubla", "BRL").with_overrides(card_days=30, pix_days=None)
    assert (terms.card_days, terms.pix_days, terms.boleto_days) == (30, 8, 2)


def test_money_is_released_at_the_start_of_the_local_day():
    # 23:30 in Sao Paulo on March 2 is 02:30 UTC on March 3: D is March 2 locally
    confirmed = datetime(2026, 3, 3, 2, 30, tzinfo=UTC)
    on = ReleaseTerms.preset("hubla", "BRL").available_on("card", confirmed, SP)
    assert on == datetime(2026, 3, 17, 3, 0, tzinfo=UTC)  # March 17, 00:00 in Sao Paulo


def _parties(lines):
    return {party: amount for party, (amount, _) in by_party(lines, [s.amount for s in lines])
            .items()}


def test_stakes_are_the_shares_or_give_the_kept_fee_to_the_producer_alone():
    assert _parties(stakes(SPLITS, platform_refunds_fee=True)) == {
        "platform": 1_090, "aff": 2_673, "co": 1_559, "prod": 4_678}
    kept = stakes(SPLITS, platform_refunds_fee=False)
    assert _parties(kept) == {"platform": 0, "aff": 2_673, "co": 1_559, "prod": 4_678 + 1_090}
    assert [line for line in kept if line.kept_fee] == [Stake("prod", "producer", 1_090, True)]


def test_a_sale_all_fee_is_refunded_by_the_platform_even_when_it_keeps_fees():
    only_fee = [{"party": "platform", "role": "platform", "amount": 100},
                {"party": "prod", "role": "producer", "amount": 0}]
    assert _parties(stakes(only_fee, platform_refunds_fee=False)) == {"platform": 100,
                                                                       "prod": 0}


def test_ten_one_cent_refunds_are_shared_by_cumulative_exact_shares():
    """Issue 16's case: largest remainder over what is left took all 10 cents from
    the producer; exact shares of 10 cents are 1.09 / 2.673 / 1.559 / 4.678."""
    outflows = Outflows.of(stakes(SPLITS, platform_refunds_fee=True), [])
    for _ in range(10):
        outflows = outflows.after(outflows.shares(1))
    assert outflows.given == [1, 3, 1, 5]


def test_the_kept_fee_is_given_back_at_the_pace_of_the_refunds():
    # exact halves: aff 1336.5 and co 779.5 tie for the last cent; the earlier wins
    outflows = Outflows.of(stakes(SPLITS, platform_refunds_fee=False), [5_000])
    parts = by_party(outflows.stakes, outflows.given)
    assert parts == {"platform": (0, 0), "aff": (1_337, 0), "co": (779, 0),
                     "prod": (2_339 + 545, 545)}
    assert Outflows.of(outflows.stakes, [5_000, 5_000]).left() == [0] * 5


def test_nothing_shared_is_nothing_taken():
    lines = [Stake("a", "producer", 5), Stake("b", "affiliate", 0)]
    assert Outflows.of(lines, []).shares(0) == [0, 0]
    assert Outflows.of([Stake("a", "platform", 0)], []).shares(3) == [0]


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(1, 10**9),
    fee_bps=st.integers(0, 10_000),
    affiliate_bps=st.integers(0, 10_000),
    coproducer_bps=st.lists(st.integers(0, 3_333), max_size=3),
    cuts=st.lists(st.integers(1, 10**4), min_size=1, max_size=6),
    platform_refunds_fee=st.booleans(),
)
def test_refunds_never_give_back_stay_within_a_cent_and_a_full_refund_returns_every_stake(
    total, fee_bps, affiliate_bps, coproducer_bps, cuts, platform_refunds_fee
):
    rules = SplitRules(
        producer="prod", platform_fee_bps=fee_bps,
        affiliate={"party": "aff", "bps": affiliate_bps},
        coproducers=[{"party": f"co{i}", "bps": b} for i, b in enumerate(coproducer_bps)],
    )
    lines = stakes(split(total, rules), platform_refunds_fee=platform_refunds_fee)
    assert sum(line.amount for line in lines) == total
    steps = [part for part in allocate(total, cuts) if part]  # refunds adding up to all
    outflows, refunded = Outflows.of(lines, []), 0
    for amount in steps:
        parts = outflows.shares(amount)
        assert sum(parts) == amount
        assert min(parts) >= 0
        outflows, refunded = outflows.after(parts), refunded + amount
        for line, given_back in zip(lines, outflows.given, strict=True):
            assert abs(Fraction(line.amount * refunded, total) - given_back) <= 1
    assert outflows.left() == [0] * len(lines)
