"""Customers: each customer's order history, from which their totals, lifetime value and
return rate are summed (`projections.queries.customer`).

`customer_orders` has a row per order: customer, channel, value, `outcome`
(`open` until it is `confirmed`, `rejected`, `cancelled` or `expired`; an
order cancelled after its confirmation counts as cancelled), units shipped
and returned, and the value credited back for returns (credit notes).

Lifetime value is the value of the orders confirmed and not cancelled, less
the credit notes; the return rate is units returned over units shipped. A
customer's figures are summed when asked rather than kept in a row of their
own: most order events name the order but not its customer, and a fold can
only reach the rows its events name (see `projections.projection`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, Final

from engine.events import (
    CreditNoteIssued,
    LinesReturned,
    LinesShipped,
    OrderCancelled,
    OrderConfirmed,
    OrderExpired,
    OrderPlaced,
    OrderRejected,
)
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
    value_cents,
)

ORDERS: Final = "customer_orders"

_OUTCOMES: Final = {
    OrderConfirmed: "confirmed",
    OrderRejected: "rejected",
    OrderCancelled: "cancelled",
    OrderExpired: "expired",
}
_EVENTS: Final = (OrderPlaced, LinesShipped, LinesReturned, CreditNoteIssued, *_OUTCOMES)


def _placed(data: OrderPlaced, at: str) -> dict[str, Any]:
    return {
        "order_id": data.order_id,
        "customer_id": data.customer_id,
        "channel": data.channel,
        "outcome": "open",
        "total_cents": value_cents(data.lines),
        "units_ordered": sum(map(quantity, data.lines)),
        "units_shipped": 0,
        "units_returned": 0,
        "credited_cents": 0,
        "placed_at": at,
        "updated_at": at,
    }


class Customers(Projection):
    name: ClassVar[str] = "customers"
    reads: ClassVar[tuple[type, ...] | None] = _EVENTS
    tables: ClassVar[tuple[Table, ...]] = (
        Table(
            ORDERS,
            (
                ("order_id", TEXT),
                ("customer_id", TEXT),
                ("channel", TEXT),
                ("outcome", TEXT),
                ("total_cents", BIGINT),
                ("units_ordered", BIGINT),
                ("units_shipped", BIGINT),
                ("units_returned", BIGINT),
                ("credited_cents", BIGINT),
                ("placed_at", TEXT),
                ("updated_at", TEXT),
            ),
            key=("order_id",),
            indexes=(("customer_id", "placed_at"),),
        ),
    )

    def keys(self, events: Sequence[Positioned]) -> Iterator[tuple[str, Key]]:
        for _, event in events:
            if isinstance(event.data, _EVENTS):
                yield ORDERS, (event.data.order_id,)

    def fold(self, rows: Rows, events: Sequence[Positioned]) -> None:
        changes = _CHANGES
        # An order meets several events a batch: its row is asked of `rows` once.
        orders: dict[str, dict[str, Any]] = {}
        for _, event in events:
            data = event.data
            kind = type(data)
            if kind is OrderPlaced:
                assert isinstance(data, OrderPlaced)
                order = _placed(data, stamp(event.timestamp))
                orders[data.order_id] = rows.insert(ORDERS, (data.order_id,), order)
                continue
            change = changes.get(kind)
            if change is None:
                continue
            assert isinstance(data, _EVENTS)
            found = orders.get(data.order_id)
            if found is None:
                found = rows.row(ORDERS, (data.order_id,))
                if found is None:
                    continue  # a rejected command about an order never placed
                orders[data.order_id] = found
            found["updated_at"] = stamp(event.timestamp)
            change(found, data)


# How each event after `OrderPlaced` changes its order's row, by the event's
# exact type: one lookup an event, not a chain of tests.
def _shipped(order: dict[str, Any], data: LinesShipped) -> None:
    order["units_shipped"] += sum(map(quantity, data.lines))


def _returned(order: dict[str, Any], data: LinesReturned) -> None:
    order["units_returned"] += sum(map(quantity, data.lines))


def _credited(order: dict[str, Any], data: CreditNoteIssued) -> None:
    order["credited_cents"] += data.amount_cents


def _outcome(outcome: str) -> Callable[[dict[str, Any], Any], None]:
    def change(order: dict[str, Any], data: object) -> None:
        order["outcome"] = outcome

    return change


_CHANGES: Final[dict[type, Callable[[dict[str, Any], Any], None]]] = {
    LinesShipped: _shipped,
    LinesReturned: _returned,
    CreditNoteIssued: _credited,
    **{kind: _outcome(outcome) for kind, outcome in _OUTCOMES.items()},
}
