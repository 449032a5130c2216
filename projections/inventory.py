"""Inventory: stock by SKU and location, and the ledger of every on-hand movement.

`stock_levels` holds one row per SKU x location slot: on hand, reserved,
the slot's settings, and `available` = on hand - safety stock - reserved
(negative while a backorder is allowed). Stock events carry the slot's
quantities after they happened, so a row takes them as they come; only
`SlotConfigured` (the slot's settings) and the first event create it.

`stock_movements` has a line per change of on hand (received, adjusted,
shipped, restocked), keyed by the slot's stream version: the slot's
history with the quantity after each line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, Final

from engine.stock.events import (
    HoldConfirmed,
    HoldExpired,
    HoldReleased,
    SlotConfigured,
    StockAdjusted,
    StockPayload,
    StockReceived,
    StockReserved,
    StockRestocked,
    StockShipped,
)
from projections.projection import BIGINT, TEXT, Key, Positioned, Projection, Rows, Table, stamp

STOCK: Final = "stock_levels"
MOVEMENTS: Final = "stock_movements"


def _slot(sku: str, location: str) -> dict[str, Any]:
    return {
        "sku": sku,
        "location": location,
        "on_hand": 0,
        "reserved": 0,
        "available": 0,
        "safety_stock": 0,
        "backorder_limit": 0,
        "priority": 0,
        "updated_at": "",
    }


class Inventory(Projection):
    name: ClassVar[str] = "inventory"
    reads: ClassVar[tuple[type, ...] | None] = (StockPayload,)
    tables: ClassVar[tuple[Table, ...]] = (
        Table(
            STOCK,
            (
                ("sku", TEXT),
                ("location", TEXT),
                ("on_hand", BIGINT),
                ("reserved", BIGINT),
                ("available", BIGINT),
                ("safety_stock", BIGINT),
                ("backorder_limit", BIGINT),
                ("priority", BIGINT),
                ("updated_at", TEXT),
            ),
            key=("sku", "location"),
            indexes=(("location",),),
        ),
        Table(
            MOVEMENTS,
            (
                ("sku", TEXT),
                ("location", TEXT),
                ("version", BIGINT),
                ("at", TEXT),
                ("kind", TEXT),
                ("quantity", BIGINT),
                ("on_hand", BIGINT),
                ("reference", TEXT),
            ),
            key=("sku", "location", "version"),
        ),
    )

    def keys(self, events: Sequence[Positioned]) -> Iterator[tuple[str, Key]]:
        for _, event in events:
            data = event.data
            if isinstance(data, StockPayload):
                yield STOCK, (data.sku, data.location)

    def fold(self, rows: Rows, events: Sequence[Positioned]) -> None:
        changes = _CHANGES
        # A batch meets few slots many times: each slot's row is asked of `rows` once.
        slots: dict[Key, dict[str, Any]] = {}
        for _, event in events:
            data = event.data
            change = changes.get(type(data))
            if change is None:
                continue
            assert isinstance(data, StockPayload)
            key = (data.sku, data.location)
            row = slots.get(key)
            if row is None:
                row = rows.row(STOCK, key) or rows.insert(STOCK, key, _slot(*key))
                slots[key] = row
            at = row["updated_at"] = stamp(event.timestamp)
            change(rows, row, data, event.version, at)
        # Available follows from the row's other figures: worked out once a slot and batch.
        for row in slots.values():
            row["available"] = row["on_hand"] - row["safety_stock"] - row["reserved"]


# What each stock event does to its slot's row (and the ledger), by the
# event's exact type: one lookup an event, not a chain of tests.
_Change = Callable[[Rows, dict[str, Any], Any, int, str], None]


def _configured(
    rows: Rows, row: dict[str, Any], data: SlotConfigured, version: int, at: str
) -> None:
    row["priority"] = data.priority
    row["safety_stock"] = data.safety_stock
    row["backorder_limit"] = data.backorder_limit


def _reserved(
    rows: Rows,
    row: dict[str, Any],
    data: StockReserved | HoldReleased | HoldExpired,
    version: int,
    at: str,
) -> None:
    row["reserved"] = data.reserved


def _confirmed(rows: Rows, row: dict[str, Any], data: HoldConfirmed, version: int, at: str) -> None:
    """A hold confirmed moves no units: the slot is only touched."""


def _counted(
    rows: Rows,
    row: dict[str, Any],
    data: StockReceived | StockAdjusted | StockRestocked,
    version: int,
    at: str,
) -> None:
    row["on_hand"] = data.on_hand
    _movement(rows, version, at, data)


def _shipped(rows: Rows, row: dict[str, Any], data: StockShipped, version: int, at: str) -> None:
    row["on_hand"] = data.on_hand
    row["reserved"] = data.reserved
    _movement(rows, version, at, data)


def _movement(
    rows: Rows,
    version: int,
    at: str,
    data: StockReceived | StockAdjusted | StockRestocked | StockShipped,
) -> None:
    if isinstance(data, StockShipped):
        kind, quantity, reference = "shipped", -data.quantity, f"hold-{data.hold_id}"
    elif isinstance(data, StockAdjusted):
        kind, quantity, reference = "adjusted", data.delta, f"{data.reason}: {data.reference}"
    else:
        kind = "received" if isinstance(data, StockReceived) else "restocked"
        quantity, reference = data.quantity, data.reference
    rows.append(
        MOVEMENTS,
        (data.sku, data.location, version, at, kind, quantity, data.on_hand, reference),
    )


_CHANGES: Final[dict[type, _Change]] = {
    SlotConfigured: _configured,
    StockReceived: _counted,
    StockAdjusted: _counted,
    StockReserved: _reserved,
    HoldConfirmed: _confirmed,
    HoldReleased: _reserved,
    HoldExpired: _reserved,
    StockShipped: _shipped,
    StockRestocked: _counted,
}
