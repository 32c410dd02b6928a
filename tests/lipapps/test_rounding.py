"""Outward rounding: every helper returns a number at or above the exact value, never below."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch

from lipapps.rounding import product_up, round_up, sqrt_up, sum_up, tensor_up


@pytest.mark.parametrize("value", [1.0 + 2.0**-30, 1.0 / 3.0, math.pi, 1e-12, 7.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
def test_tensor_up_is_the_smallest_number_of_the_dtype_at_or_above(value, dtype) -> None:
    like = torch.zeros(2, dtype=dtype)
    up = tensor_up(value, like)
    assert up.dtype == dtype and float(up) >= value
    below = torch.nextafter(up, torch.tensor(-math.inf, dtype=dtype))
    assert float(below) < value


def test_storing_a_float64_bound_in_float32_can_round_down_and_tensor_up_does_not() -> None:
    value = 1.0 + 2.0**-30  # not a float32: round to nearest gives 1.0
    assert float(torch.tensor(value, dtype=torch.float32)) < value
    assert float(tensor_up(value, torch.zeros(1))) == 1.0 + 2.0**-23


def test_rational_helpers_round_outward() -> None:
    third = Fraction(1, 3)
    assert Fraction(round_up(third)) >= third
    assert Fraction(sum_up(0.1, 0.2)) >= Fraction(0.1) + Fraction(0.2)
    assert Fraction(sqrt_up(2.0)) ** 2 >= 2


def test_product_up_is_the_exact_product_rounded_up():
    values = (0.1, 0.7, 1.0 / 3.0)
    exact = Fraction(0.1) * Fraction(0.7) * Fraction(1.0 / 3.0)
    up = product_up(*values)
    assert Fraction(up) >= exact and Fraction(math.nextafter(up, -math.inf)) < exact
    assert product_up() == 1.0
