"""A plain, comparable picture of the stock core's state, and its snapshot.

Both the core and the reference model produce exactly this structure, so
tests compare them with `==`, and either can load the other's snapshot.
Slots are ordered by (sku, location) and holds by hold id, so equal states
are equal structures and encode to equal bytes.
"""

from __future__ import annotations

import msgspec

from engine.stock.limits import StockLimits


class SlotState(msgspec.Struct, frozen=True, array_like=True):
    sku: str
    location: str
    priority: int
    safety_stock: int
    backorder_limit: int
    on_hand: int
    reserved: int


class HoldState(msgspec.Struct, frozen=True, array_like=True):
    """An open hold: issued, and not yet shipped, released or expired."""

    hold_id: int
    sku: str
    location: str
    quantity: int
    expires_at: int
    confirmed: bool


class StockState(msgspec.Struct, frozen=True):
    slots: tuple[SlotState, ...]
    holds: tuple[HoldState, ...]
    next_hold_id: int


class StockSnapshot(msgspec.Struct, frozen=True):
    limits: StockLimits
    state: StockState


def encode_snapshot(limits: StockLimits, state: StockState) -> bytes:
    return msgspec.msgpack.encode(StockSnapshot(limits=limits, state=state))


def decode_snapshot(data: bytes) -> StockSnapshot:
    return msgspec.msgpack.decode(data, type=StockSnapshot)
