"""Replaying the store: every stock event, in commit order, back into a stock core."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, Protocol

from eventsourcing.persistence import ApplicationRecorder

from engine.codec import decode_for_replay, payloads_of_array
from engine.events import TOPIC_TYPES
from engine.stock.events import StockEvent
from engine.store import CommitReader

PAGE_EVENTS = 50_000
STOCK_TOPICS: Final = frozenset(f"stock:{cls.__name__}" for cls in TOPIC_TYPES["stock"])


class StockModel(Protocol):
    def apply(self, events: list[StockEvent]) -> None: ...


def stock_payloads(recorder: ApplicationRecorder) -> Iterator[list[StockEvent]]:
    """The stock payloads of the whole store, a page at a time, in commit order."""
    if isinstance(recorder, CommitReader):
        # Our stores hand over whole commits, so no Notification
        # object is built per event: replay is bound by decoding alone.
        for _first, commit in recorder.read_commits():
            topics = commit.topics
            payloads = payloads_of_array(commit.states_array)
            if STOCK_TOPICS.issuperset(topics.names):
                yield payloads  # type: ignore[misc]
            else:
                stock = [name in STOCK_TOPICS for name in topics.names]
                yield [p for p, i in zip(payloads, topics.of, strict=True) if stock[i]]  # type: ignore[misc]
        return
    last = 0
    while page := recorder.select_notifications(last, PAGE_EVENTS, inclusive_of_start=False):
        states = [n.state for n in page if n.topic in STOCK_TOPICS]
        yield [e.data for e in decode_for_replay(states)]  # type: ignore[misc]
        last = page[-1].id


def replay_stock(recorder: ApplicationRecorder, model: StockModel) -> int:
    """Apply every stock event in the store to `model`; the number applied."""
    applied = 0
    for payloads in stock_payloads(recorder):
        model.apply(payloads)
        applied += len(payloads)
    return applied
