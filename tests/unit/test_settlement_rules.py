"""Release terms and the sharing of refunds, chargebacks and disputes among a sale's
parties: exact to the cent, never more than a party's stake."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payledger.domain.money import allocate
from payledger.domain.settlement_rules import ReleaseTerms, remaining, shares, stakes
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


def test_stakes_are_the_shares_or_spread_the_fee_when_the_platform_keeps_it():
    assert stakes(SPLITS, platform_refunds_fee=True) == {
        "platform": 1_090, "aff": 2_673, "co": 1_559, "prod": 4_678}
    kept = stakes(SPLITS, platform_refunds_fee=False)
    assert kept["platform"] == 0
    assert sum(kept.values()) == 10_000
    assert all(kept[p] > s["amount"] for p, s in zip(kept, SPLITS, strict=True) if p != "platform")


def test_a_sale_all_fee_is_refunded_by_the_platform_even_when_it_keeps_fees():
    only_fee = [{"party": "platform", "role": "platform", "amount": 100},
                {"party": "prod", "role": "producer", "amount": 0}]
    assert stakes(only_fee, platform_refunds_fee=False) == {"platform": 100, "prod": 0}


def test_the_last_refund_takes_back_exactly_what_remains():
    stake = stakes(SPLITS, platform_refunds_fee=True)
    first = shares(3_333, stake)
    left = remaining(stake, [3_333])
    assert sum(first.values()) == 3_333
    assert left == {p: stake[p] - first[p] for p in stake}
    assert shares(10_000 - 3_333, left) == left
    assert remaining(stake, [3_333, 10_000 - 3_333]) == dict.fromkeys(stake, 0)


def test_nothing_shared_is_nothing_taken():
    assert shares(0, {"a": 5, "b": 0}) == {"a": 0, "b": 0}
    assert shares(0, {"a": 0}) == {"a": 0}


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(1, 10**9),
    fee_bps=st.integers(0, 10_000),
    affiliate_bps=st.integers(0, 10_000),
    coproducer_bps=st.lists(st.integers(0, 3_333), max_size=3),
    cuts=st.lists(st.integers(1, 10**4), min_size=1, max_size=6),
    platform_refunds_fee=st.booleans(),
)
def test_refunds_share_exactly_and_a_full_refund_returns_every_stake(
    total, fee_bps, affiliate_bps, coproducer_bps, cuts, platform_refunds_fee
):
    rules = SplitRules(
        producer="prod", platform_fee_bps=fee_bps,
        affiliate={"party": "aff", "bps": affiliate_bps},
        coproducers=[{"party": f"co{i}", "bps": b} for i, b in enumerate(coproducer_bps)],
    )
    stake = stakes(split(total, rules), platform_refunds_fee=platform_refunds_fee)
    assert sum(stake.values()) == total
    steps = [part for part in allocate(total, cuts) if part]  # refunds adding up to all
    left = dict(stake)
    for amount in steps:
        parts = shares(amount, left)
        assert sum(parts.values()) == amount
        assert all(0 <= parts[p] <= left[p] for p in left)
        left = {p: left[p] - parts[p] for p in left}
    assert left == dict.fromkeys(stake, 0)
