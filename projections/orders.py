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

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Final

from engine.events import (
    CreditNoteIssued,
    LinesReturned,
    LinesShipped,
    OrderCancelled,
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
from projections.projection import BIGINT, TEXT, Key, Positioned, Projection, Rows, Table, stamp

LEDGER: Final = "order_ledger"
REVENUE: Final = "daily_revenue"

_ENDINGS: Final = {
    OrderRejected: OrderStatus.REJECTED,
    OrderCancelled: OrderStatus.CANCELLED,
    OrderExpired: OrderStatus.EXPIRED,
}
_DAILY: Final = (OrderPlaced, OrderConfirmed, OrderRejected, OrderCancelled, OrderExpired)


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
        "status": OrderStatus.PLACED.value,
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
        for _, event in events:
            data = event.data
            if isinstance(data, CreditNoteIssued):
                self._daily(rows, stamp(event.timestamp)[:10])["credited_cents"] += (
                    data.amount_cents
                )
                continue
            if not isinstance(data, OrderPayload):
                continue
            at = stamp(event.timestamp)
            if isinstance(data, OrderPlaced):
                rows.insert(LEDGER, (data.order_id,), _placed(data, at))
                self._daily(rows, at[:10])["orders_placed"] += 1
                continue
            order = rows.row(LEDGER, (data.order_id,))
            if order is None:
                continue  # a rejected command about an order never placed
            order["updated_at"] = at
            self._apply(rows, order, data, at[:10])

    @staticmethod
    def _daily(rows: Rows, day: str) -> dict[str, Any]:
        return rows.row(REVENUE, (day,)) or rows.insert(REVENUE, (day,), _day(day))

    def _apply(self, rows: Rows, order: dict[str, Any], data: OrderPayload, day: str) -> None:
        kind = type(data)
        if kind is OrderStockReserved:
            order["status"] = OrderStatus.RESERVED.value
        elif kind is OrderCreditHeld:
            assert isinstance(data, OrderCreditHeld)
            order["status"] = OrderStatus.CREDIT_HELD.value
            order["reason"] = data.reason.value
        elif kind is OrderConfirmed:
            assert isinstance(data, OrderConfirmed)
            order["status"] = OrderStatus.CONFIRMED.value
            order["reason"] = None
            daily = self._daily(rows, day)
            daily["orders_confirmed"] += 1
            daily["revenue_cents"] += data.total_cents
        elif kind is PaymentCaptured:
            assert isinstance(data, PaymentCaptured)
            order["paid_cents"] += data.amount_cents
        elif kind is LinesShipped:
            assert isinstance(data, LinesShipped)
            order["shipments"] += 1
            order["units_shipped"] += sum(line.quantity for line in data.lines)
            shipped_all = order["units_shipped"] >= order["units_ordered"]
            order["status"] = (
                OrderStatus.SHIPPED if shipped_all else OrderStatus.PARTIALLY_SHIPPED
            ).value
        elif kind is OrderDelivered:
            order["deliveries"] += 1
            if order["status"] == OrderStatus.SHIPPED and order["deliveries"] >= order["shipments"]:
                order["status"] = OrderStatus.DELIVERED.value
        elif kind is LinesReturned:
            assert isinstance(data, LinesReturned)
            order["units_returned"] += sum(line.quantity for line in data.lines)
            if order["units_returned"] >= order["units_shipped"] and order["status"] in (
                OrderStatus.SHIPPED,
                OrderStatus.DELIVERED,
            ):
                order["status"] = OrderStatus.RETURNED.value
        elif kind in _ENDINGS:
            order["status"] = _ENDINGS[kind].value
            order["reason"] = getattr(data, "reason", None)
            if isinstance(data, OrderRejected):
                order["reason"] = data.reason.value
            self._daily(rows, day)["orders_lost"] += 1
