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

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Final

from engine.stock.events import (
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

_RESERVED_ONLY: Final = (StockReserved, HoldReleased, HoldExpired)
_ON_HAND_ONLY: Final = (StockReceived, StockAdjusted, StockRestocked)


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
        for _, event in events:
            data = event.data
            if not isinstance(data, StockPayload):
                continue
            key = (data.sku, data.location)
            row = rows.row(STOCK, key) or rows.insert(STOCK, key, _slot(*key))
            row["updated_at"] = stamp(event.timestamp)
            if isinstance(data, _RESERVED_ONLY):
                row["reserved"] = data.reserved
            elif isinstance(data, _ON_HAND_ONLY):
                row["on_hand"] = data.on_hand
                self._movement(rows, event.version, row["updated_at"], data)
            elif isinstance(data, StockShipped):
                row["on_hand"] = data.on_hand
                row["reserved"] = data.reserved
                self._movement(rows, event.version, row["updated_at"], data)
            elif isinstance(data, SlotConfigured):
                row["priority"] = data.priority
                row["safety_stock"] = data.safety_stock
                row["backorder_limit"] = data.backorder_limit
            row["available"] = row["on_hand"] - row["safety_stock"] - row["reserved"]

    @staticmethod
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
            {
                "sku": data.sku,
                "location": data.location,
                "version": version,
                "at": at,
                "kind": kind,
                "quantity": quantity,
                "on_hand": data.on_hand,
                "reference": reference,
            },
        )
