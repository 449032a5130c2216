"""Small helpers the stock tests share."""

from __future__ import annotations

from collections.abc import Sequence

from engine.stock.events import StockEvent, StockRejected
from engine.stock.model import StockModel as Stock

__all__ = ["Stock", "on_hand_and_reserved", "only", "rejected"]


def only(events: Sequence[StockEvent]) -> StockEvent:
    assert len(events) == 1, events
    return events[0]


def rejected(events: Sequence[StockEvent]) -> StockRejected:
    event = only(events)
    assert isinstance(event, StockRejected), event
    return event


def on_hand_and_reserved(stock: Stock, sku: str, location: str) -> tuple[int, int]:
    slot = stock.slot(sku, location)
    assert slot is not None
    return slot.on_hand, slot.reserved
