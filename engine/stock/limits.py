"""The named limits of the stock core, checked on every call.

A batch that is too large is a caller bug and raises `ValueError`; an item
that crosses a per-item limit is answered with a `StockRejected`
(`LIMIT_EXCEEDED` or `QUANTITY_OUT_OF_RANGE`).
"""

from __future__ import annotations

import msgspec

# Ceilings imposed by the core's C storage: slot and SKU indices are int32,
# quantities and clock values int64. `quantity_max` is kept far enough below
# 2**63 that on_hand + backorder_limit and now + ttl can never overflow.
_INT32_MAX = 2**31 - 1
_QUANTITY_CEILING = 2**60
_CLOCK_CEILING = 2**62


class StockLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Every bound the core enforces. Units come last in each name."""

    sku_slots_max: int = 2_000_000
    locations_per_sku_max: int = 64
    lines_per_order_max: int = 64
    quantity_max: int = 1_000_000_000
    batch_size_max: int = 1_000_000
    open_holds_max: int = 4_000_000
    key_bytes_max: int = 64
    priority_max: int = _INT32_MAX
    ttl_max: int = 2**40
    clock_max: int = _CLOCK_CEILING

    def __post_init__(self) -> None:
        ceilings = {
            "sku_slots_max": _INT32_MAX,
            "locations_per_sku_max": _INT32_MAX,
            "lines_per_order_max": _INT32_MAX,
            "quantity_max": _QUANTITY_CEILING,
            "batch_size_max": _INT32_MAX,
            "open_holds_max": 2**30,
            "key_bytes_max": 1024,
            "priority_max": _INT32_MAX,
            "ttl_max": _CLOCK_CEILING,
            "clock_max": _CLOCK_CEILING,
        }
        for name, ceiling in ceilings.items():
            value = getattr(self, name)
            if not 1 <= value <= ceiling:
                raise ValueError(f"StockLimits.{name} is {value}; it must be in 1..{ceiling}")


def check_batch_size(operation: str, size: int, limits: StockLimits) -> None:
    """Refuse a whole batch before any of it applies."""
    if size > limits.batch_size_max:
        raise ValueError(
            f"{operation}: batch of {size} items exceeds batch_size_max {limits.batch_size_max}"
        )


def check_clock(operation: str, now: int, limits: StockLimits) -> None:
    """`now` is the caller's logical clock; it must stay where now + ttl fits."""
    if not 0 <= now <= limits.clock_max:
        raise ValueError(f"{operation}: now {now} outside 0..{limits.clock_max} (clock_max)")
