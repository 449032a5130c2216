"""Realistic event streams for the bench: a flash sale's stock events, stamped as stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from eventsourcing.persistence import StoredEvent

from engine.codec import to_stored
from engine.events import Event
from engine.stock._core import StockCore
from engine.stock.events import StockReserved
from engine.writer import Stamper, stock_stream_of

LOCATIONS = ("dc-north", "dc-south", "store-city")


def flash_sale_events(buyers: int, units: int, sku: str = "FLASH-1") -> list[Event]:
    """Configure, receive, `buyers` one-unit reservations, then confirm and ship every hold."""
    core = StockCore()
    events: list[Event] = []
    events += core.configure([(sku, loc, rank, 0, 0) for rank, loc in enumerate(LOCATIONS)])
    events += core.receive([(sku, loc, units // len(LOCATIONS), "po") for loc in LOCATIONS])
    reserved = core.reserve([(f"o{i}", [(sku, 1)], 60) for i in range(buyers)], now=0)
    events += reserved
    holds = [e.hold_id for e in reserved if isinstance(e, StockReserved)]
    events += core.confirm(holds)
    events += core.ship([(h, 1) for h in holds])
    return events


def stock_commits(events_per_commit: int, commits: int) -> list[list[StoredEvent]]:
    """`commits` commits of stored flash-sale events, with contiguous stream versions."""
    wanted = events_per_commit * commits
    buyers = wanted // 2
    events = flash_sale_events(buyers=buyers, units=buyers // 2)[:wanted]
    correlation = uuid.uuid4()
    envelopes = Stamper().stamp(
        ((stock_stream_of(e), e) for e in events),
        timestamp=datetime.now(UTC),
        correlation_id=correlation,
        causation_id=correlation,
    )
    stored = [to_stored(e) for e in envelopes]
    return [stored[i : i + events_per_commit] for i in range(0, len(stored), events_per_commit)]
