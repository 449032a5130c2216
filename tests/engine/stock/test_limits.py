"""StockLimits: every limit is named, bounded by what the core can store, and frozen."""

from __future__ import annotations

import msgspec
import pytest

from engine.stock.limits import StockLimits
from tests.engine.stock.conftest import MakeStock

FIELDS = list(StockLimits.__struct_fields__)


@pytest.mark.parametrize("name", FIELDS)
def test_every_limit_must_be_positive(name: str) -> None:
    with pytest.raises(ValueError, match=f"StockLimits.{name} is 0"):
        StockLimits(**{name: 0})


@pytest.mark.parametrize(
    ("name", "ceiling"),
    [("sku_slots_max", 2**31 - 1), ("quantity_max", 2**60), ("clock_max", 2**62)],
)
def test_limits_stop_at_what_the_core_can_store(name: str, ceiling: int) -> None:
    assert getattr(StockLimits(**{name: ceiling}), name) == ceiling
    with pytest.raises(ValueError, match=f"StockLimits.{name} is {ceiling + 1}"):
        StockLimits(**{name: ceiling + 1})


def test_limits_are_frozen() -> None:
    limits = StockLimits()
    with pytest.raises(AttributeError):
        limits.batch_size_max = 5  # type: ignore[misc]
    assert msgspec.structs.replace(limits, batch_size_max=5).batch_size_max == 5


def test_the_clock_may_reach_clock_max(make_stock: MakeStock) -> None:
    stock = make_stock(clock_max=1_000, ttl_max=10)
    stock.configure([("A", "east", 0, 0, 1)])
    events = stock.reserve([("o-1", [("A", 1)], 10)], now=1_000)
    assert [e.expires_at for e in events] == [1_010]  # type: ignore[union-attr]
    assert stock.expire(1_000) == []
    with pytest.raises(ValueError, match=r"now 1001 outside 0\.\.1000"):
        stock.expire(1_001)
