"""Logistics: the fulfilment backlog and pick lists per location, and shipments.

`pick_lines` has a row per stock hold an order took: order, SKU, the location
the units are held at, units held, units still to ship (`open_quantity`) and
shipped. `status` is `reserved` until the order is confirmed, `confirmed`
while it is on the location's pick list, then `shipped`, `released`
(cancelled or rejected) or `expired`, with the time the hold ended. The
backlog of a location is its confirmed lines with units open. The stock
events carry the hold id, so a line is found from any of them; only
`StockReserved` names the order, which is why reserved holds have rows too.

`shipments` has a row per shipment of an order: the location it left from,
lines and units, when it shipped and when it was delivered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, Final

from engine.events import LinesShipped, OrderDelivered
from engine.stock.events import (
    HoldConfirmed,
    HoldExpired,
    HoldReleased,
    StockReserved,
    StockShipped,
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
)

PICK_LINES: Final = "pick_lines"
SHIPMENTS: Final = "shipments"

RESERVED: Final = "reserved"
CONFIRMED: Final = "confirmed"

_HOLD_EVENTS: Final = (HoldConfirmed, StockShipped, HoldReleased, HoldExpired)
# A line or a shipment may begin and change in one batch, so its key is named from the start.
_LINE_EVENTS: Final = (StockReserved, *_HOLD_EVENTS)
_SHIPMENT_EVENTS: Final = (LinesShipped, OrderDelivered)


def _reserved(data: StockReserved, at: str) -> dict[str, Any]:
    return {
        "hold_id": data.hold_id,
        "order_id": data.order_id,
        "sku": data.sku,
        "location": data.location,
        "quantity": data.quantity,
        "open_quantity": data.quantity,
        "shipped_quantity": 0,
        "status": RESERVED,
        "reserved_at": at,
        "confirmed_at": None,
        "ended_at": None,
    }


def _shipped(data: LinesShipped, at: str) -> dict[str, Any]:
    return {
        "order_id": data.order_id,
        "shipment_id": data.shipment_id,
        "location": data.location,
        "lines": len(data.lines),
        "units": sum(map(quantity, data.lines)),
        "shipped_at": at,
        "delivered_at": None,
    }


class Logistics(Projection):
    name: ClassVar[str] = "logistics"
    reads: ClassVar[tuple[type, ...] | None] = (*_LINE_EVENTS, *_SHIPMENT_EVENTS)
    tables: ClassVar[tuple[Table, ...]] = (
        Table(
            PICK_LINES,
            (
                ("hold_id", BIGINT),
                ("order_id", TEXT),
                ("sku", TEXT),
                ("location", TEXT),
                ("quantity", BIGINT),
                ("open_quantity", BIGINT),
                ("shipped_quantity", BIGINT),
                ("status", TEXT),
                ("reserved_at", TEXT),
                ("confirmed_at", TEXT),
                ("ended_at", TEXT),
            ),
            key=("hold_id",),
            indexes=(("location", "status"), ("order_id",)),
        ),
        Table(
            SHIPMENTS,
            (
                ("order_id", TEXT),
                ("shipment_id", TEXT),
                ("location", TEXT),
                ("lines", BIGINT),
                ("units", BIGINT),
                ("shipped_at", TEXT),
                ("delivered_at", TEXT),
            ),
            key=("order_id", "shipment_id"),
            indexes=(("location", "shipped_at"),),
        ),
    )

    def keys(self, events: Sequence[Positioned]) -> Iterator[tuple[str, Key]]:
        for _, event in events:
            data = event.data
            if isinstance(data, _LINE_EVENTS):
                yield PICK_LINES, (data.hold_id,)
            elif isinstance(data, _SHIPMENT_EVENTS):
                yield SHIPMENTS, (data.order_id, data.shipment_id)

    def fold(self, rows: Rows, events: Sequence[Positioned]) -> None:
        line_changes, shipment_changes = _LINE_CHANGES, _SHIPMENT_CHANGES
        # A hold meets several events a batch: its line is asked of `rows` once.
        lines: dict[int, dict[str, Any]] = {}
        for _, event in events:
            data = event.data
            kind = type(data)
            line_change = line_changes.get(kind)
            if line_change is not None:
                assert isinstance(data, _HOLD_EVENTS)
                line = lines.get(data.hold_id)
                if line is None:
                    line = rows.row(PICK_LINES, (data.hold_id,))
                    if line is None:
                        continue  # a hold this read model never saw reserved
                    lines[data.hold_id] = line
                line_change(line, data, stamp(event.timestamp))
            elif kind is StockReserved:
                assert isinstance(data, StockReserved)
                line = _reserved(data, stamp(event.timestamp))
                lines[data.hold_id] = rows.insert(PICK_LINES, (data.hold_id,), line)
            else:
                change = shipment_changes.get(kind)
                if change is not None:
                    change(rows, data, stamp(event.timestamp))


# What each event does to the rows, by the event's exact type: one lookup an
# event, not a chain of tests.
def _ship(rows: Rows, data: LinesShipped, at: str) -> None:
    rows.insert(SHIPMENTS, (data.order_id, data.shipment_id), _shipped(data, at))


def _deliver(rows: Rows, data: OrderDelivered, at: str) -> None:
    shipment = rows.row(SHIPMENTS, (data.order_id, data.shipment_id))
    if shipment is not None:
        shipment["delivered_at"] = at


def _confirm(line: dict[str, Any], data: HoldConfirmed, at: str) -> None:
    line["status"] = CONFIRMED
    line["confirmed_at"] = at


def _hold_ending(status: str) -> Callable[[dict[str, Any], Any, str], None]:
    """A change by an event that leaves `remaining` units of its hold (none when it expires)."""

    def change(
        line: dict[str, Any], data: StockShipped | HoldReleased | HoldExpired, at: str
    ) -> None:
        if isinstance(data, StockShipped):
            line["shipped_quantity"] += data.quantity
        line["open_quantity"] = 0 if isinstance(data, HoldExpired) else data.remaining
        if not line["open_quantity"]:
            line["status"] = status
            line["ended_at"] = at

    return change


_LINE_CHANGES: Final[dict[type, Callable[[dict[str, Any], Any, str], None]]] = {
    HoldConfirmed: _confirm,
    StockShipped: _hold_ending("shipped"),
    HoldReleased: _hold_ending("released"),
    HoldExpired: _hold_ending("expired"),
}
_SHIPMENT_CHANGES: Final[dict[type, Callable[[Rows, Any, str], None]]] = {
    LinesShipped: _ship,
    OrderDelivered: _deliver,
}
