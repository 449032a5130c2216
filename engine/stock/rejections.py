"""Every `StockRejected` the stock core can produce, with its wording.

The core and the reference model build their rejections here so the two agree
to the character; a differential test compares them with `==`.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

from engine.stock.events import Reason, StockRejected
from engine.stock.limits import StockLimits


def unknown_sku(operation: str, sku: str, reference: str) -> StockRejected:
    return StockRejected(
        operation=operation,
        reason=Reason.UNKNOWN_SKU,
        detail=f"sku {sku!r} is not configured at any location",
        reference=reference,
        sku=sku,
    )


def unknown_location(operation: str, sku: str, location: str, reference: str) -> StockRejected:
    return StockRejected(
        operation=operation,
        reason=Reason.UNKNOWN_LOCATION,
        detail=f"sku {sku!r} is not configured at location {location!r}",
        reference=reference,
        sku=sku,
        location=location,
    )


def out_of_range(
    operation: str,
    field: str,
    value: int,
    low: int,
    high: int,
    *,
    reference: str = "",
    sku: str = "",
    location: str = "",
    hold_id: int = 0,
) -> StockRejected:
    return StockRejected(
        operation=operation,
        reason=Reason.QUANTITY_OUT_OF_RANGE,
        detail=f"{field} {value} outside {low}..{high}",
        reference=reference,
        sku=sku,
        location=location,
        hold_id=hold_id,
    )


def limit_exceeded(
    operation: str, detail: str, *, reference: str = "", sku: str = "", location: str = ""
) -> StockRejected:
    return StockRejected(
        operation=operation,
        reason=Reason.LIMIT_EXCEEDED,
        detail=detail,
        reference=reference,
        sku=sku,
        location=location,
    )


def key_too_long(operation: str, field: str, key: str, size: int, size_max: int) -> StockRejected:
    return limit_exceeded(
        operation,
        f"{field} {key!r} is {size} bytes, outside 1..{size_max} (key_bytes_max)",
    )


def insufficient(
    operation: str,
    detail: str,
    *,
    reference: str = "",
    sku: str = "",
    location: str = "",
    hold_id: int = 0,
) -> StockRejected:
    return StockRejected(
        operation=operation,
        reason=Reason.INSUFFICIENT_STOCK,
        detail=detail,
        reference=reference,
        sku=sku,
        location=location,
        hold_id=hold_id,
    )


def uncovered_reservations(
    operation: str,
    sku: str,
    location: str,
    reference: str,
    on_hand: int,
    safety_stock: int,
    backorder_limit: int,
    reserved: int,
) -> StockRejected:
    """A change that would leave `reserved` above what the slot can cover."""
    return insufficient(
        operation,
        f"reserved {reserved} would exceed on_hand {on_hand} - safety_stock {safety_stock}"
        f" + backorder_limit {backorder_limit}",
        reference=reference,
        sku=sku,
        location=location,
    )


def stale_expected(
    sku: str, location: str, reference: str, expected: int, on_hand: int
) -> StockRejected:
    return StockRejected(
        operation="set_on_hand",
        reason=Reason.STALE_EXPECTED_QUANTITY,
        detail=f"expected on_hand {expected}, found {on_hand}",
        reference=reference,
        sku=sku,
        location=location,
    )


def unknown_hold(operation: str, hold_id: int) -> StockRejected:
    return StockRejected(
        operation=operation,
        reason=Reason.UNKNOWN_HOLD,
        detail=f"hold {hold_id} was never issued",
        hold_id=hold_id,
    )


def hold_ended(operation: str, hold_id: int) -> StockRejected:
    return StockRejected(
        operation=operation,
        reason=Reason.HOLD_ENDED,
        detail=f"hold {hold_id} has already ended",
        hold_id=hold_id,
    )


def hold_not_confirmed(hold_id: int, sku: str, location: str) -> StockRejected:
    return StockRejected(
        operation="ship",
        reason=Reason.HOLD_NOT_CONFIRMED,
        detail=f"hold {hold_id} is not confirmed; only confirmed holds ship",
        sku=sku,
        location=location,
        hold_id=hold_id,
    )


def already_confirmed(hold_id: int, sku: str, location: str) -> StockRejected:
    return StockRejected(
        operation="confirm",
        reason=Reason.DUPLICATE,
        detail=f"hold {hold_id} is already confirmed",
        sku=sku,
        location=location,
        hold_id=hold_id,
    )


class OrderFault(IntEnum):
    """Why `reserve` turned an order down; the core logs these as small ints."""

    NO_LINES = 1
    TOO_MANY_LINES = 2
    TTL_OUT_OF_RANGE = 3
    UNKNOWN_SKU = 4
    QUANTITY_OUT_OF_RANGE = 5
    INSUFFICIENT_STOCK = 6
    OPEN_HOLDS_FULL = 7


def order_rejected(
    fault: OrderFault,
    order_id: str,
    line: int,
    sku: str,
    quantity: int,
    value: int,
    limits: StockLimits,
) -> StockRejected:
    """The one rejection of a refused order.

    `line` is the index of the failing line (ignored for order-level faults),
    `quantity` that line's quantity, and `value` the figure the fault is about:
    the line count, the ttl, or the quantity available.
    """
    reason, detail = _ORDER_FAULTS[fault](line, quantity, value, limits)
    return StockRejected(
        operation="reserve",
        reason=reason,
        detail=detail,
        reference=order_id,
        sku=sku,
    )


_Explain = Callable[[int, int, int, StockLimits], tuple[Reason, str]]

_ORDER_FAULTS: dict[OrderFault, _Explain] = {
    OrderFault.NO_LINES: lambda _line, _quantity, _value, limits: (
        Reason.QUANTITY_OUT_OF_RANGE,
        f"order has 0 lines; it needs 1..{limits.lines_per_order_max}",
    ),
    OrderFault.TOO_MANY_LINES: lambda _line, _quantity, value, limits: (
        Reason.LIMIT_EXCEEDED,
        f"order has {value} lines; lines_per_order_max is {limits.lines_per_order_max}",
    ),
    OrderFault.TTL_OUT_OF_RANGE: lambda _line, _quantity, value, limits: (
        Reason.QUANTITY_OUT_OF_RANGE,
        f"ttl {value} outside 1..{limits.ttl_max}",
    ),
    OrderFault.UNKNOWN_SKU: lambda line, _quantity, _value, _limits: (
        Reason.UNKNOWN_SKU,
        f"lines[{line}]: sku is not configured at any location",
    ),
    OrderFault.QUANTITY_OUT_OF_RANGE: lambda line, quantity, _value, limits: (
        Reason.QUANTITY_OUT_OF_RANGE,
        f"lines[{line}]: quantity {quantity} outside 1..{limits.quantity_max}",
    ),
    OrderFault.INSUFFICIENT_STOCK: lambda line, quantity, value, _limits: (
        Reason.INSUFFICIENT_STOCK,
        f"lines[{line}]: {quantity} requested, {value} available",
    ),
    OrderFault.OPEN_HOLDS_FULL: lambda line, _quantity, _value, limits: (
        Reason.LIMIT_EXCEEDED,
        f"lines[{line}]: open_holds_max {limits.open_holds_max} reached",
    ),
}
