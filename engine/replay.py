"""Replaying the store: every stock event, in commit order, back into a stock core."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from eventsourcing.persistence import ApplicationRecorder

from engine.codec import decode
from engine.stock.events import StockEvent
from engine.store.sqlite import SQLiteApplicationRecorder

PAGE_EVENTS = 50_000


class StockModel(Protocol):
    def apply(self, events: list[StockEvent]) -> None: ...


def stock_payloads(recorder: ApplicationRecorder) -> Iterator[list[StockEvent]]:
    """The stock payloads of the whole store, a page at a time, in commit order."""
    if isinstance(recorder, SQLiteApplicationRecorder):
        # The embedded store hands over whole commits, so no Notification
        # object is built per event: replay is bound by decoding alone.
        for events in recorder.read_commits(topic_prefix="stock:"):
            yield [decode(state).data for state in events]  # type: ignore[misc]
        return
    last = 0
    while page := recorder.select_notifications(last, PAGE_EVENTS, inclusive_of_start=False):
        yield [
            decode(n.state).data  # type: ignore[misc]
            for n in page
            if n.topic.startswith("stock:")
        ]
        last = page[-1].id


def replay_stock(recorder: ApplicationRecorder, model: StockModel) -> int:
    """Apply every stock event in the store to `model`; the number applied."""
    applied = 0
    for payloads in stock_payloads(recorder):
        model.apply(payloads)
        applied += len(payloads)
    return applied
