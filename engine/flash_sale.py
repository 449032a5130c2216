"""A flash sale on one hot SKU, through the stock core, into the store.

A hot SKU is stocked in a few locations; buyers each try to reserve one unit,
far more buyers than units. Most winners pay (their holds are confirmed and
shipped); the rest walk away and their holds expire on the logical clock.
The core starts from the store's history, every event of the sale is committed
to the store, and the whole store is then replayed into a fresh core, which
must come out in the very same state as the live one.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Final

from eventsourcing.persistence import ApplicationRecorder

from engine.events import Event
from engine.replay import replay_stock
from engine.stock._core import StockCore
from engine.stock.compact import CompactOrders
from engine.stock.events import HoldExpired, StockRejected, StockReserved, StockShipped
from engine.writer import Stamper, commit, stock_stream_of

LOCATIONS: Final = ("dc-north", "dc-south", "store-city")
BATCH_BUYERS: Final = 50_000
COMMIT_EVENTS_MAX: Final = 20_000
HOLD_TTL: Final = 30


@dataclass(frozen=True)
class FlashSaleSettings:
    units: int = 120_000
    buyers: int = 200_000
    pay_percent: int = 90
    seed: int = 7


@dataclass(frozen=True)
class FlashSaleSummary:
    sku: str
    units: int
    buyers: int
    reserved: int
    rejected: int
    shipped: int
    expired: int
    oversold: int
    reservations_per_s: float
    events: int
    events_stored_per_s: float
    events_replayed: int
    events_replayed_per_s: float
    replay_matches: bool
    invariants_hold: bool

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


Progress = Callable[[str, int, int], None]


def run_flash_sale(
    recorder: ApplicationRecorder, settings: FlashSaleSettings, progress: Progress
) -> FlashSaleSummary:
    rng = random.Random(settings.seed)
    # A SKU of its own per run, so runs can share one store without clashing.
    sku = f"FLASH-{uuid.UUID(int=rng.getrandbits(128)).hex[:8]}"
    # The live core starts where the store's history ends, as the engine does
    # after a restart: hold ids go on from the last one ever issued.
    core = StockCore()
    replay_stock(recorder, core)
    events: list[Event] = []
    events += core.configure([(sku, loc, rank, 0, 0) for rank, loc in enumerate(LOCATIONS)])
    events += core.receive(
        [(sku, loc, share, f"po-{loc}") for loc, share in _split(settings.units, LOCATIONS)]
    )

    reserve_s = 0.0
    holds: list[int] = []
    for start in range(0, settings.buyers, BATCH_BUYERS):
        count = min(BATCH_BUYERS, settings.buyers - start)
        orders = CompactOrders.from_orders(
            [(f"{sku}-buyer-{start + i}", [(sku, 1)], HOLD_TTL) for i in range(count)],
            core.sku_index,
        )
        began = time.perf_counter()
        log = core.reserve_compact(
            orders.order_ids,
            orders.line_starts,
            orders.line_skus,
            orders.line_quantities,
            orders.ttls,
            start // BATCH_BUYERS,
        )
        reserve_s += time.perf_counter() - began
        batch = log.events()
        holds += [e.hold_id for e in batch if isinstance(e, StockReserved)]
        events += batch
        progress("reserve", start + count, settings.buyers)

    paid = [h for h in holds if rng.randrange(100) < settings.pay_percent]
    events += core.confirm(paid)
    events += core.expire(settings.buyers // BATCH_BUYERS + HOLD_TTL + 1)
    events += core.ship([(h, 1) for h in paid])

    stored_s = _commit_all(recorder, events, progress)
    replayed_core = StockCore()
    began = time.perf_counter()
    replayed = replay_stock(recorder, replayed_core)
    replay_s = time.perf_counter() - began

    shipped = sum(isinstance(e, StockShipped) for e in events)
    return FlashSaleSummary(
        sku=sku,
        units=settings.units,
        buyers=settings.buyers,
        reserved=len(holds),
        rejected=sum(isinstance(e, StockRejected) for e in events),
        shipped=shipped,
        expired=sum(isinstance(e, HoldExpired) for e in events),
        oversold=max(0, shipped + _reserved(core, sku) - settings.units),
        reservations_per_s=settings.buyers / reserve_s,
        events=len(events),
        events_stored_per_s=len(events) / stored_s,
        events_replayed=replayed,
        events_replayed_per_s=replayed / replay_s,
        replay_matches=replayed_core.state() == core.state(),
        invariants_hold=_invariants_hold(core) and _invariants_hold(replayed_core),
    )


def _split(units: int, locations: Sequence[str]) -> Iterator[tuple[str, int]]:
    """Units spread over locations, the first taking the remainder."""
    share, rest = divmod(units, len(locations))
    for i, loc in enumerate(locations):
        yield loc, share + (rest if i == 0 else 0)


def _commit_all(recorder: ApplicationRecorder, events: list[Event], progress: Progress) -> float:
    """Commit `events` in commits of COMMIT_EVENTS_MAX; seconds spent writing."""
    stamper = Stamper()
    correlation = uuid.uuid4()
    spent = 0.0
    for start in range(0, len(events), COMMIT_EVENTS_MAX):
        chunk = events[start : start + COMMIT_EVENTS_MAX]
        began = time.perf_counter()
        envelopes = stamper.stamp(
            [(stock_stream_of(e), e) for e in chunk],
            timestamp=datetime.now(UTC),
            correlation_id=correlation,
            # One cause per commit: a cause's events never span two commits.
            causation_id=uuid.uuid4(),
        )
        commit(recorder, envelopes)
        spent += time.perf_counter() - began
        progress("store", start + len(chunk), len(events))
    return spent


def _reserved(core: StockCore, sku: str) -> int:
    return sum(s.reserved for s in core.state().slots if s.sku == sku)


def _invariants_hold(core: StockCore) -> bool:
    try:
        core.check_invariants()
    except AssertionError:
        return False
    return True
