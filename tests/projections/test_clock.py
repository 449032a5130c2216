"""Reading a day the logical clock's way: `day:N`, or a date counted from day zero."""

from __future__ import annotations

from datetime import date

import pytest

from projections.clock import NoDayZeroError, logical_day

DAY_ZERO = date(2026, 11, 27)


def test_a_logical_day_needs_no_calendar() -> None:
    assert logical_day("day:0", None) == 0
    assert logical_day("day:41", DAY_ZERO) == 41


def test_a_date_counts_from_day_zero() -> None:
    assert logical_day("2026-11-27", DAY_ZERO) == 0
    assert logical_day("2027-01-06", DAY_ZERO) == 40
    # Before day zero: every day the read model holds is after it.
    assert logical_day("2026-11-20", DAY_ZERO) == -7


def test_a_date_without_day_zero_says_how_to_get_one() -> None:
    with pytest.raises(NoDayZeroError, match=r"2026-11-27 .*rebuild .*day:N"):
        logical_day("2026-11-27", None)


@pytest.mark.parametrize(
    "text",
    ["yesterday", "3", "day:", "day:-1", "day:x", "day:²", "2026-13-01", "20261127", "2026-W48-5"],
)
def test_anything_else_is_named_with_both_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"YYYY-MM-DD|day:N") as raised:
        logical_day(text, DAY_ZERO)
    assert repr(text) in str(raised.value)
    assert not isinstance(raised.value, NoDayZeroError)
