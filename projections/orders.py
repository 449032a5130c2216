"""Orders: the order ledger (one row per order, with status and totals) and daily revenue.

`order_ledger` follows an order through the statuses of `engine.orders`:
placed, reserved, credit held, confirmed, partially shipped, shipped,
delivered, returned, or rejected / cancelled / expired. Units are counted
over all lines, which decides the same as the engine's per-SKU count because
the engine never ships or takes back more of a SKU than the order holds.
`reason` says why an order is held, rejected or cancelled.

`daily_revenue` has a row per UTC day of the events: orders placed, orders
confirmed and their value (revenue is booked when an order is confirmed),
orders lost (rejected, cancelled or expired) and value credited back for
returns (credit notes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, Final

from engine.events import (
    CreditNoteIssued,
    LinesReturned,
    LinesShipped,
    OrderCancelled,
    OrderCommandRejected,
    OrderConfirmed,
    OrderCreditHeld,
    OrderDelivered,
    OrderExpired,
    OrderPayload,
    OrderPlaced,
    OrderRejected,
    OrderStockReserved,
    PaymentCaptured,
)
from engine.orders import OrderStatus
from projections.projection import (
    BIGINT,
    TEXT,
    Key,
    Positioned,
    Projection,
    Rows,
    Table,
    quantity,
    stamp,
)

LEDGER: Final = "order_ledger"
REVENUE: Final = "daily_revenue"

_DAILY: Final = (OrderPlaced, OrderConfirmed, OrderRejected, OrderCancelled, OrderExpired)

# The statuses as the rows hold them, taken once: an enum member's `.value` is a property call.
_PLACED: Final = OrderStatus.PLACED.value
_RESERVED: Final = OrderStatus.RESERVED.value
_CREDIT_HELD: Final = OrderStatus.CREDIT_HELD.value
_CONFIRMED: Final = OrderStatus.CONFIRMED.value
_PARTIALLY_SHIPPED: Final = OrderStatus.PARTIALLY_SHIPPED.value
_SHIPPED: Final = OrderStatus.SHIPPED.value
_DELIVERED: Final = OrderStatus.DELIVERED.value
_RETURNED: Final = OrderStatus.RETURNED.value


def _placed(data: OrderPlaced, at: str) -> dict[str, Any]:
    units = total_cents = 0
    for line in data.lines:
        units += line.quantity
        total_cents += line.quantity * line.unit_price_cents
    return {
        "order_id": data.order_id,
        "customer_id": data.customer_id,
        "channel": data.channel,
        "campaign": data.campaign,
        "payment_terms": data.payment_terms,
        "status": _PLACED,
        "reason": None,
        "lines": len(data.lines),
        "units_ordered": units,
        "units_shipped": 0,
        "units_returned": 0,
        "shipments": 0,
        "deliveries": 0,
        "total_cents": total_cents,
        "paid_cents": 0,
        "placed_at": at,
        "updated_at": at,
    }


def _day(day: str) -> dict[str, Any]:
    return {
        "day": day,
        "orders_placed": 0,
        "orders_confirmed": 0,
        "revenue_cents": 0,
        "orders_lost": 0,
        "credited_cents": 0,
    }


class Orders(Projection):
    name: ClassVar[str] = "orders"
    reads: ClassVar[tuple[type, ...] | None] = (OrderPayload, CreditNoteIssued)
    tables: ClassVar[tuple[Table, ...]] = (
        Table(
            LEDGER,
            (
                ("order_id", TEXT),
                ("customer_id", TEXT),
                ("channel", TEXT),
                ("campaign", TEXT),
                ("payment_terms", TEXT),
                ("status", TEXT),
                ("reason", TEXT),
                ("lines", BIGINT),
                ("units_ordered", BIGINT),
                ("units_shipped", BIGINT),
                ("units_returned", BIGINT),
                ("shipments", BIGINT),
                ("deliveries", BIGINT),
                ("total_cents", BIGINT),
                ("paid_cents", BIGINT),
                ("placed_at", TEXT),
                ("updated_at", TEXT),
            ),
            key=("order_id",),
            indexes=(("customer_id",), ("status",)),
        ),
        Table(
            REVENUE,
            (
                ("day", TEXT),
                ("orders_placed", BIGINT),
                ("orders_confirmed", BIGINT),
                ("revenue_cents", BIGINT),
                ("orders_lost", BIGINT),
                ("credited_cents", BIGINT),
            ),
            key=("day",),
        ),
    )

    def keys(self, events: Sequence[Positioned]) -> Iterator[tuple[str, Key]]:
        for _, event in events:
            data = event.data
            if isinstance(data, OrderPayload):
                yield LEDGER, (data.order_id,)
                if isinstance(data, _DAILY):
                    yield REVENUE, (stamp(event.timestamp)[:10],)
            elif isinstance(data, CreditNoteIssued):
                yield REVENUE, (stamp(event.timestamp)[:10],)

    def fold(self, rows: Rows, events: Sequence[Positioned]) -> None:
        changes = _CHANGES
        # An order meets several events a batch: its row is asked of `rows` once.
        orders: dict[str, dict[str, Any]] = {}
        for _, event in events:
            data = event.data
            kind = type(data)
            change = changes.get(kind)
            if change is None:
                if kind is OrderPlaced:
                    assert isinstance(data, OrderPlaced)
                    at = stamp(event.timestamp)
                    order = _placed(data, at)
                    orders[data.order_id] = rows.insert(LEDGER, (data.order_id,), order)
                    _daily(rows, at)["orders_placed"] += 1
                elif kind is CreditNoteIssued:
                    assert isinstance(data, CreditNoteIssued)
                    _daily(rows, stamp(event.timestamp))["credited_cents"] += data.amount_cents
                continue
            assert isinstance(data, OrderPayload)
            found = orders.get(data.order_id)
            if found is None:
                found = rows.row(LEDGER, (data.order_id,))
                if found is None:
                    continue  # a rejected command about an order never placed
                orders[data.order_id] = found
            at = found["updated_at"] = stamp(event.timestamp)
            change(rows, found, data, at)


def _daily(rows: Rows, at: str) -> dict[str, Any]:
    """The revenue row of the UTC day of `at`, an envelope's timestamp as text."""
    day = at[:10]
    return rows.row(REVENUE, (day,)) or rows.insert(REVENUE, (day,), _day(day))


# How each event after `OrderPlaced` changes its order's row (and the day's
# revenue row), by the event's exact type: one lookup an event, not a chain of tests.
_Change = Callable[[Rows, dict[str, Any], Any, str], None]


def _reserved(rows: Rows, order: dict[str, Any], data: OrderStockReserved, at: str) -> None:
    order["status"] = _RESERVED


def _credit_held(rows: Rows, order: dict[str, Any], data: OrderCreditHeld, at: str) -> None:
    order["status"] = _CREDIT_HELD
    order["reason"] = data.reason.value


def _confirmed(rows: Rows, order: dict[str, Any], data: OrderConfirmed, at: str) -> None:
    order["status"] = _CONFIRMED
    order["reason"] = None
    daily = _daily(rows, at)
    daily["orders_confirmed"] += 1
    daily["revenue_cents"] += data.total_cents


def _paid(rows: Rows, order: dict[str, Any], data: PaymentCaptured, at: str) -> None:
    order["paid_cents"] += data.amount_cents


def _shipped(rows: Rows, order: dict[str, Any], data: LinesShipped, at: str) -> None:
    order["shipments"] += 1
    units = order["units_shipped"] = order["units_shipped"] + sum(map(quantity, data.lines))
    order["status"] = _SHIPPED if units >= order["units_ordered"] else _PARTIALLY_SHIPPED


def _delivered(rows: Rows, order: dict[str, Any], data: OrderDelivered, at: str) -> None:
    order["deliveries"] += 1
    if order["status"] == _SHIPPED and order["deliveries"] >= order["shipments"]:
        order["status"] = _DELIVERED


def _returned(rows: Rows, order: dict[str, Any], data: LinesReturned, at: str) -> None:
    order["units_returned"] += sum(map(quantity, data.lines))
    if order["units_returned"] >= order["units_shipped"] and order["status"] in (
        _SHIPPED,
        _DELIVERED,
    ):
        order["status"] = _RETURNED


def _ended(status: OrderStatus) -> _Change:
    text = status.value

    def end(
        rows: Rows,
        order: dict[str, Any],
        data: OrderRejected | OrderCancelled | OrderExpired,
        at: str,
    ) -> None:
        order["status"] = text
        order["reason"] = getattr(data, "reason", None)
        if isinstance(data, OrderRejected):
            order["reason"] = data.reason.value
        _daily(rows, at)["orders_lost"] += 1

    return end


def _touched(rows: Rows, order: dict[str, Any], data: OrderCommandRejected, at: str) -> None:
    """A command about the order was rejected: the order itself is as it was."""


_CHANGES: Final[dict[type, _Change]] = {
    OrderStockReserved: _reserved,
    OrderCreditHeld: _credit_held,
    OrderConfirmed: _confirmed,
    PaymentCaptured: _paid,
    LinesShipped: _shipped,
    OrderDelivered: _delivered,
    LinesReturned: _returned,
    OrderRejected: _ended(OrderStatus.REJECTED),
    OrderCancelled: _ended(OrderStatus.CANCELLED),
    OrderExpired: _ended(OrderStatus.EXPIRED),
    OrderCommandRejected: _touched,
}
