from fractions import Fraction
from itertools import pairwise

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from payledger.domain.errors import ValidationError
from payledger.domain.money import (
    BPS_WHOLE,
    MINOR_UNITS,
    Money,
    allocate,
    bps_of,
    check_bps,
    currency_code,
    format_minor,
    installments,
    minor_units,
    split_by_bps,
)

totals = st.integers(min_value=-(10**12), max_value=10**12)
weight_lists = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20).filter(
    lambda weights: sum(weights) > 0
)


# Currency


def test_the_required_currencies_and_exponents_are_supported():
    expected = {"BRL": 2, "USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "CLP": 0, "MXN": 2}
    expected |= {"COP": 2, "ARS": 2, "PEN": 2, "UYU": 2, "PYG": 0, "CAD": 2, "AUD": 2}
    assert {code: MINOR_UNITS[code] for code in expected} == expected


def test_currency_code_upper_cases():
    assert currency_code("brl") == "BRL"
    assert minor_units("jpy") == 0


@pytest.mark.parametrize("code", ["XYZ", "", "BR", "BRLL", "R$"])
def test_an_unknown_currency_code_is_rejected(code):
    with pytest.raises(ValidationError) as caught:
        currency_code(code)
    assert caught.value.field == "currency"


# Money


def test_money_normalises_its_currency():
    assert Money.of(100, "brl") == Money(amount=100, currency="BRL")


def test_money_is_frozen():
    money = Money.of(100, "BRL")
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        money.amount = 5  # type: ignore[misc]


@pytest.mark.parametrize("amount", [True, False, 1.0, 1.5, "100", None])
def test_money_rejects_an_amount_that_is_not_an_int(amount):
    with pytest.raises(ValidationError) as caught:
        Money(amount=amount, currency="BRL")
    assert caught.value.field == "amount"


@pytest.mark.parametrize("currency", ["XXX", 986, None])
def test_money_rejects_an_unsupported_currency(currency):
    with pytest.raises(ValidationError) as caught:
        Money(amount=1, currency=currency)
    assert caught.value.field == "currency"


def test_money_adds_subtracts_and_negates():
    ten, three = Money.of(1000, "BRL"), Money.of(300, "BRL")
    assert ten + three == Money.of(1300, "BRL")
    assert three - ten == Money.of(-700, "BRL")
    assert -ten == Money.of(-1000, "BRL")


@pytest.mark.parametrize("combine", [Money.__add__, Money.__sub__])
def test_money_of_two_currencies_does_not_combine(combine):
    with pytest.raises(ValidationError) as caught:
        combine(Money.of(1, "BRL"), Money.of(1, "USD"))
    assert caught.value.field == "currency"


def test_money_does_not_add_a_bare_int():
    with pytest.raises(TypeError):
        Money.of(1, "BRL") + 1  # type: ignore[operator]


def test_zero():
    assert Money.zero("usd") == Money.of(0, "USD")
    assert Money.zero("USD").is_zero()
    assert not Money.of(-1, "USD").is_zero()


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1234, "BRL", "BRL 12.34"),
        (5, "BRL", "BRL 0.05"),
        (-1234, "BRL", "BRL -12.34"),
        (-5, "USD", "USD -0.05"),
        (0, "EUR", "EUR 0.00"),
        (1234, "JPY", "JPY 1234"),
        (-1234, "CLP", "CLP -1234"),
    ],
)
def test_money_prints_with_the_currency_exponent(amount, currency, text):
    assert str(Money.of(amount, currency)) == text


def test_format_minor_with_three_decimals():
    assert format_minor(-1005, 3) == "-1.005"


def test_money_round_trips_through_json():
    money = Money.of(-1234, "BRL")
    assert Money.model_validate_json(money.model_dump_json()) == money


# Basis points


@pytest.mark.parametrize(
    ("amount", "bps", "expected"),
    [
        (10_000, 250, 250),
        (1000, 250, 25),
        (5, 1000, 1),  # 0.5 rounds half up
        (4, 1000, 0),  # 0.4 rounds down
        (15, 1000, 2),  # 1.5 rounds half up
        (-5, 1000, -1),  # half away from zero, mirroring the positive case
        (-4, 1000, 0),
        (199, 5000, 100),  # 99.5
        (12_345, BPS_WHOLE, 12_345),
        (12_345, 0, 0),
    ],
)
def test_bps_of_rounds_half_away_from_zero(amount, bps, expected):
    assert bps_of(amount, bps) == expected


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=BPS_WHOLE))
def test_bps_of_is_the_nearest_integer_with_halves_up(amount, bps):
    exact = Fraction(amount * bps, BPS_WHOLE)
    result = bps_of(amount, bps)
    assert exact - Fraction(1, 2) < result <= exact + Fraction(1, 2)
    assert bps_of(-amount, bps) == -result


@pytest.mark.parametrize("bps", [0, 1, 9_999, 10_000])
def test_check_bps_accepts_a_percentage(bps):
    assert check_bps("fee_bps", bps) == bps


@pytest.mark.parametrize("bps", [-1, 10_001, True, 2.5])
def test_check_bps_names_the_field(bps):
    with pytest.raises(ValidationError) as caught:
        check_bps("fee_bps", bps)
    assert caught.value.field == "fee_bps"


# Allocation


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (-100, [1, 1, 1], [-34, -33, -33]),
        (101, [1, 1], [51, 50]),
        (5, [0, 3, 0, 2], [0, 3, 0, 2]),
        (10, [1, 2, 3, 4], [1, 2, 3, 4]),
        (2, [1, 1, 1], [1, 1, 0]),  # equal remainders go to the earliest indexes
        (1, [1, 2], [0, 1]),  # 1/3 vs 2/3: the larger remainder wins
        (0, [1, 1], [0, 0]),
        (7, [5], [7]),
    ],
)
def test_allocate(total, weights, expected):
    assert allocate(total, weights) == expected


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1, 2], [True, 1], [1.5]])
def test_allocate_rejects_bad_weights(weights):
    with pytest.raises(ValidationError) as caught:
        allocate(100, weights)
    assert caught.value.field == "weights"


@given(totals, weight_lists)
def test_allocate_always_sums_to_the_total(total, weights):
    assert sum(allocate(total, weights)) == total


@given(totals, weight_lists)
def test_each_part_is_within_one_of_its_exact_share(total, weights):
    whole = sum(weights)
    for part, weight in zip(allocate(total, weights), weights, strict=True):
        assert abs(part - Fraction(total * weight, whole)) < 1


@given(totals, weight_lists)
def test_a_negative_total_mirrors_the_positive_one(total, weights):
    assert allocate(-total, weights) == [-part for part in allocate(total, weights)]


def test_split_by_bps():
    assert split_by_bps(1001, [7000, 3000]) == [701, 300]
    assert split_by_bps(100, [3334, 3333, 3333]) == [34, 33, 33]


@pytest.mark.parametrize("shares", [[], [5000], [5000, 5001], [10_001, -1], [True, 9_999]])
def test_split_by_bps_requires_shares_of_a_whole(shares):
    with pytest.raises(ValidationError) as caught:
        split_by_bps(100, shares)
    assert caught.value.field == "shares"


@given(totals, st.lists(st.integers(min_value=0, max_value=BPS_WHOLE), max_size=9))
def test_split_by_bps_sums_to_the_total(total, cuts):
    bounds = [0, *sorted(cuts), BPS_WHOLE]
    shares = [high - low for low, high in pairwise(bounds)]
    assert sum(split_by_bps(total, shares)) == total


# Installments


@pytest.mark.parametrize(
    ("total", "count", "expected"),
    [
        (1000, 3, [334, 333, 333]),
        (1000, 1, [1000]),
        (1001, 4, [251, 250, 250, 250]),
        (1003, 4, [251, 251, 251, 250]),
        (2, 3, [1, 1, 0]),
        (0, 2, [0, 0]),
        (-1000, 3, [-333, -333, -334]),
    ],
)
def test_installments(total, count, expected):
    assert installments(total, count) == expected


@pytest.mark.parametrize("count", [0, 13, -1, True])
def test_installments_count_is_from_one_to_twelve(count):
    with pytest.raises(ValidationError) as caught:
        installments(1000, count)
    assert caught.value.field == "count"


@given(totals, st.integers(min_value=1, max_value=12))
def test_installments_sum_and_differ_by_at_most_one(total, count):
    parts = installments(total, count)
    assert len(parts) == count
    assert sum(parts) == total
    assert max(parts) - min(parts) <= 1
    assert parts == sorted(parts, reverse=True)
