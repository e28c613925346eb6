"""The one rounding rule: amount = volume_ml * unit_price / 1000, rounded half up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.money import amount_for, max_volume_for

volumes = st.integers(min_value=0, max_value=10**9)
prices = st.integers(min_value=1, max_value=10**6)
amounts = st.integers(min_value=0, max_value=10**9)


@pytest.mark.parametrize(
    ("volume_ml", "unit_price", "expected"),
    [
        (0, 5299, 0),
        (1000, 5299, 5299),  # one litre is exactly the unit price
        (40_000, 5299, 211_960),
        (1, 499, 0),  # 0.499 -> 0
        (1, 500, 1),  # 0.5 -> 1: half rounds up
        (1, 501, 1),
        (3, 500, 2),  # 1.5 -> 2 (half up, not half to even)
        (5, 500, 3),  # 2.5 -> 3 (half up, not half to even)
        (1, 1499, 1),  # 1.499 -> 1
        (1, 1500, 2),  # 1.5 -> 2
        (123_457, 5090, 628_396),  # 628 396.13 -> 628 396
        (47_179, 5299, 250_002),  # 250 001.521 -> 250 002
        (1000, 0, 0),  # a free product costs nothing
    ],
)
def test_amount_for_rounds_half_up(volume_ml: int, unit_price: int, expected: int) -> None:
    assert amount_for(volume_ml, unit_price) == expected


@pytest.mark.parametrize(("volume_ml", "unit_price"), [(-1, 5299), (1000, -1)])
def test_amount_for_refuses_negative_input(volume_ml: int, unit_price: int) -> None:
    with pytest.raises(ValueError):
        amount_for(volume_ml, unit_price)


def test_amount_for_returns_int_for_big_values() -> None:
    # No float on the money path: exact for values far beyond a float's 53 bits.
    big = 10**18 + 1
    result = amount_for(big, 1000)
    assert type(result) is int
    assert result == big


@given(volumes, prices)
def test_amount_for_is_exact_half_up(volume_ml: int, unit_price: int) -> None:
    product = volume_ml * unit_price  # in 1/1000 minor units
    result = amount_for(volume_ml, unit_price)
    # |result - product/1000| <= 1/2, ties go up.
    assert 1000 * result - 500 <= product < 1000 * result + 500


@given(volumes, volumes, prices)
def test_amount_for_is_monotonic_in_volume(a: int, b: int, unit_price: int) -> None:
    lo, hi = sorted((a, b))
    assert amount_for(lo, unit_price) <= amount_for(hi, unit_price)


@pytest.mark.parametrize(
    ("amount", "unit_price", "expected"),
    [
        (0, 5299, 0),  # 0.094 ml would already cost 0.5 -> 1
        (0, 1, 499),  # 499 ml at 1 minor/l is 0.499 -> 0
        (1, 1, 1499),
        (5299, 5299, 1000),
        (250_000, 5299, 47_178),  # 47 179 ml would cost 250 002
        (100, 1000, 100),
        (100, 3, 33_499),
        (-1, 5299, 0),  # nothing left (negative) -> nothing to fill
    ],
)
def test_max_volume_for_examples(amount: int, unit_price: int, expected: int) -> None:
    assert max_volume_for(amount, unit_price) == expected


def test_max_volume_for_free_product_is_unbounded_by_money() -> None:
    assert max_volume_for(0, 0) >= 10**12
    assert max_volume_for(5, 0) >= 10**12


@given(amounts, prices)
def test_max_volume_for_is_the_largest_affordable_volume(amount: int, unit_price: int) -> None:
    volume = max_volume_for(amount, unit_price)
    assert volume >= 0
    assert amount_for(volume, unit_price) <= amount
    assert amount_for(volume + 1, unit_price) > amount


@given(amounts, amounts, prices)
def test_max_volume_for_is_monotonic_in_amount(a: int, b: int, unit_price: int) -> None:
    lo, hi = sorted((a, b))
    assert max_volume_for(lo, unit_price) <= max_volume_for(hi, unit_price)


@given(volumes, prices)
def test_round_trip_volume_amount_volume(volume_ml: int, unit_price: int) -> None:
    # The volume is always affordable with its own amount (never refused for rounding).
    assert max_volume_for(amount_for(volume_ml, unit_price), unit_price) >= volume_ml
