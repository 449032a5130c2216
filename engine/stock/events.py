"""What the stock core says happened: the payloads of the `stock` topic.

The core and its pure-Python reference model both produce exactly these
structs, so a differential test can compare their output with `==`. The
envelope (event id, stream, version, time, correlation) is added by the
engine when it commits; the core never sees clocks or ids it did not assign.

Stream id of every payload here: `sku-{sku}@{location}` (see `stream_id`).
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class Reason(StrEnum):
    """Machine-readable reasons a stock operation was rejected."""

    UNKNOWN_SKU = "unknown_sku"
    UNKNOWN_LOCATION = "unknown_location"
    INSUFFICIENT_STOCK = "insufficient_stock"
    UNKNOWN_HOLD = "unknown_hold"
    HOLD_ENDED = "hold_ended"
    HOLD_NOT_CONFIRMED = "hold_not_confirmed"
    STALE_EXPECTED_QUANTITY = "stale_expected_quantity"
    QUANTITY_OUT_OF_RANGE = "quantity_out_of_range"
    LIMIT_EXCEEDED = "limit_exceeded"
    DUPLICATE = "duplicate"


class StockPayload(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """Base of every stock payload; the tag is the class name."""

    sku: str
    location: str


class SlotConfigured(StockPayload, frozen=True, tag=True, kw_only=True):
    """A SKU x location slot's settings; the first one creates the slot.

    Lower `priority` allocates first. `backorder_limit` is how far `reserved`
    may exceed `on_hand - safety_stock` (0 denies backorders).
    """

    priority: int
    safety_stock: int
    backorder_limit: int


class StockReceived(StockPayload, frozen=True, tag=True, kw_only=True):
    quantity: int
    reference: str
    on_hand: int


class StockAdjusted(StockPayload, frozen=True, tag=True, kw_only=True):
    delta: int
    reason: str
    reference: str
    on_hand: int


class StockReserved(StockPayload, frozen=True, tag=True, kw_only=True):
    hold_id: int
    order_id: str
    quantity: int
    expires_at: int
    reserved: int


class HoldConfirmed(StockPayload, frozen=True, tag=True, kw_only=True):
    hold_id: int
    quantity: int


class HoldReleased(StockPayload, frozen=True, tag=True, kw_only=True):
    hold_id: int
    quantity: int
    remaining: int
    reserved: int


class HoldExpired(StockPayload, frozen=True, tag=True, kw_only=True):
    hold_id: int
    quantity: int
    reserved: int


class StockShipped(StockPayload, frozen=True, tag=True, kw_only=True):
    hold_id: int
    quantity: int
    remaining: int
    on_hand: int
    reserved: int


class StockRestocked(StockPayload, frozen=True, tag=True, kw_only=True):
    quantity: int
    reference: str
    on_hand: int


class StockRejected(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """An operation that could not apply; nothing else changed because of it.

    `sku`, `location` and `hold_id` are empty / zero where they do not apply.
    """

    operation: str
    reason: Reason
    detail: str
    reference: str = ""
    sku: str = ""
    location: str = ""
    hold_id: int = 0


StockEvent = (
    SlotConfigured
    | StockReceived
    | StockAdjusted
    | StockReserved
    | HoldConfirmed
    | HoldReleased
    | HoldExpired
    | StockShipped
    | StockRestocked
    | StockRejected
)


def stream_id(sku: str, location: str) -> str:
    return f"sku-{sku}@{location}"
