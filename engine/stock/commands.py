"""The shapes of the batch items each stock operation takes, and their checks.

Both the core and the reference model run every batch through these checks
before applying any item, so a malformed batch (wrong types, an integer that
does not fit 64 bits, too many items) raises and changes nothing. Values that
are well-formed but out of range are the operations' business: they answer
them with a `StockRejected`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from engine.stock.limits import StockLimits, check_batch_size

# (sku, location, priority, safety_stock, backorder_limit)
ConfigureItem: TypeAlias = tuple[str, str, int, int, int]
# (sku, location, quantity, reference); also the shape of a restock
ReceiveItem: TypeAlias = tuple[str, str, int, str]
# (sku, location, delta, reason, reference)
AdjustItem: TypeAlias = tuple[str, str, int, str, str]
# (sku, location, quantity, expected_on_hand, reason, reference)
SetOnHandItem: TypeAlias = tuple[str, str, int, int, str, str]
# (sku, quantity)
OrderLine: TypeAlias = tuple[str, int]
# (order_id, lines, ttl)
Order: TypeAlias = tuple[str, Sequence[OrderLine], int]
# (hold_id, quantity or None for everything that remains)
ReleaseItem: TypeAlias = tuple[int, int | None]
# (hold_id, quantity)
ShipItem: TypeAlias = tuple[int, int]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

_SHAPES: dict[str, tuple[type, ...]] = {
    "configure": (str, str, int, int, int),
    "receive": (str, str, int, str),
    "restock": (str, str, int, str),
    "adjust": (str, str, int, str, str),
    "set_on_hand": (str, str, int, int, str, str),
    "ship": (int, int),
}


def _check_field(operation: str, position: int, value: object, kind: type) -> None:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"{operation}: item {position} has {value!r}; expected {kind.__name__}")
    if kind is int and not _INT64_MIN <= value <= _INT64_MAX:  # type: ignore[operator]
        raise ValueError(f"{operation}: item {position} has {value}, which does not fit 64 bits")


def _check_item(operation: str, position: int, item: object, shape: tuple[type, ...]) -> None:
    if not isinstance(item, tuple) or len(item) != len(shape):
        raise TypeError(
            f"{operation}: item {position} is {item!r}; expected a tuple of {len(shape)} fields"
        )
    for value, kind in zip(item, shape, strict=True):
        _check_field(operation, position, value, kind)


def check_items(operation: str, items: Sequence[object], limits: StockLimits) -> None:
    """Check a batch of one of the flat-tuple operations in `_SHAPES`."""
    check_batch_size(operation, len(items), limits)
    shape = _SHAPES[operation]
    for position, item in enumerate(items):
        _check_item(operation, position, item, shape)


def check_hold_ids(hold_ids: Sequence[object], limits: StockLimits) -> None:
    check_batch_size("confirm", len(hold_ids), limits)
    for position, hold_id in enumerate(hold_ids):
        _check_field("confirm", position, hold_id, int)


def check_releases(items: Sequence[object], limits: StockLimits) -> None:
    check_batch_size("release", len(items), limits)
    for position, item in enumerate(items):
        if not isinstance(item, tuple) or len(item) != 2:
            raise TypeError(f"release: item {position} is {item!r}; expected (hold_id, quantity)")
        _check_field("release", position, item[0], int)
        if item[1] is not None:
            _check_field("release", position, item[1], int)


def check_orders(orders: Sequence[object], limits: StockLimits) -> None:
    check_batch_size("reserve", len(orders), limits)
    for position, order in enumerate(orders):
        if not isinstance(order, tuple) or len(order) != 3:
            raise TypeError(
                f"reserve: order {position} is {order!r}; expected (order_id, lines, ttl)"
            )
        order_id, lines, ttl = order
        _check_field("reserve", position, order_id, str)
        _check_field("reserve", position, ttl, int)
        if not isinstance(lines, Sequence):
            raise TypeError(f"reserve: order {position} has lines {lines!r}; expected a sequence")
        for line in lines:
            _check_item("reserve", position, line, (str, int))
