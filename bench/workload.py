"""Realistic event streams for the bench: a flash sale's stock events, stamped as stored."""

from __future__ import annotations

import random
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


def catalogue_events(orders: int, skus: int = 2_000, seed: int = 1) -> list[Event]:
    """A storefront's day: random SKUs in several locations, orders of one to three
    lines with random ids and quantities, most confirmed and shipped, some released."""
    rng = random.Random(seed)
    core = StockCore()
    names = [f"SKU-{rng.randrange(10**8):08d}" for _ in range(skus)]
    events: list[Event] = []
    events += core.configure(
        [(n, loc, rank, 2, 0) for n in names for rank, loc in enumerate(LOCATIONS)]
    )
    events += core.receive(
        [
            (n, loc, rng.randrange(50, 5_000), f"po-{rng.randrange(10**6)}")
            for n in names
            for loc in LOCATIONS
        ]
    )
    batch = [
        (
            f"ord-{uuid.UUID(int=rng.getrandbits(128))}",
            [(rng.choice(names), rng.randrange(1, 4)) for _ in range(rng.randrange(1, 4))],
            60,
        )
        for _ in range(orders)
    ]
    reserved = core.reserve(batch, now=0)
    events += reserved
    holds = [e.hold_id for e in reserved if isinstance(e, StockReserved)]
    kept = [h for h in holds if rng.randrange(10)]
    kept_set = set(kept)
    events += core.release([(h, None) for h in holds if h not in kept_set])
    events += core.confirm(kept)
    events += core.ship(
        [(h, core_hold_quantity) for h, core_hold_quantity in _quantities(reserved, kept)]
    )
    return events


def _quantities(reserved: list[Event], holds: list[int]) -> list[tuple[int, int]]:
    quantity = {e.hold_id: e.quantity for e in reserved if isinstance(e, StockReserved)}
    return [(h, quantity[h]) for h in holds]


def stock_commits(events_per_commit: int, commits: int) -> list[list[StoredEvent]]:
    """`commits` commits of a storefront's stored stock events, with contiguous versions."""
    wanted = events_per_commit * commits
    events = catalogue_events(orders=wanted // 3)[:wanted]
    assert len(events) == wanted, f"the workload made {len(events)} events, not {wanted}"
    correlation = uuid.uuid4()
    envelopes = Stamper().stamp(
        [(stock_stream_of(e), e) for e in events],
        timestamp=datetime.now(UTC),
        correlation_id=correlation,
        causation_id=correlation,
    )
    stored = [to_stored(e) for e in envelopes]
    return [stored[i : i + events_per_commit] for i in range(0, len(stored), events_per_commit)]
