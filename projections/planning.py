"""Planning: sales velocity per SKU, days of cover and reorder suggestions.

Time is the engine's logical clock (`projections.clock`): velocity is about
business days, which the demo moves through in seconds of wall time.

`planning_slots` holds each SKU x location slot's on hand, reserved and
safety stock, taken as the stock events state them. `planning_shipments` has
a line per shipment (`StockShipped`, keyed by the slot's stream version) with
its units and the logical day it left. `planning_clock` is the clock.

Sales velocity counts units *shipped*: what actually leaves the shelves, as
the stock topic states it per SKU, with no lookup of the order's lines.
Returns are not netted off. The queries (`projections.queries.planning`)
sum it per SKU over its locations and derive the rest with `PlanningSettings`,
so a new lead time needs no rebuild:

- velocity over N days = units shipped in the N complete logical days before
  today / N (fewer days while the clock is younger than N; 0 on day 0);
- days of cover = available / 7-day velocity, with available as the
  inventory read model has it (on hand - safety stock - reserved, at least 0);
  None while nothing ships;
- reorder units = 7-day velocity x lead time + safety stock - (on hand -
  reserved) - on order, rounded up, at least 0. On hand - reserved is
  available plus safety stock, so safety stock is not counted twice. No event
  records stock on order: the caller passes it in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from engine.events import ClockAdvanced
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
from projections.clock import CLOCK_KEY, DAY_S, clock_row, clock_table
from projections.projection import BIGINT, TEXT, Key, Positioned, Projection, Rows, Table

__all__ = [
    "LEAD_TIME_DAYS",
    "Planning",
    "PlanningSettings",
    "days_of_cover",
    "reorder_point",
    "reorder_units",
    "velocity",
]

SLOTS: Final = "planning_slots"
SHIPMENTS: Final = "planning_shipments"
CLOCK: Final = "planning_clock"

LEAD_TIME_DAYS: Final = 7
VELOCITY_WINDOWS_DAYS: Final = (7, 30)

_ON_HAND: Final = (StockReceived, StockAdjusted, StockRestocked)
_RESERVED: Final = (StockReserved, HoldReleased, HoldExpired)
_SLOT_EVENTS: Final = frozenset((*_ON_HAND, *_RESERVED, StockShipped, SlotConfigured))


@dataclass(frozen=True)
class PlanningSettings:
    """How reorder suggestions are made: the supplier's lead time, in logical days."""

    lead_time_days: int = LEAD_TIME_DAYS

    def __post_init__(self) -> None:
        if self.lead_time_days < 0:
            msg = f"lead_time_days must be 0 or more, got {self.lead_time_days}"
            raise ValueError(msg)


def velocity(units: int, window_days: int, today: int) -> float:
    """Units a day over the `window_days` complete days before logical day `today`."""
    days = min(window_days, today)
    return units / days if days else 0.0


def days_of_cover(available: int, velocity_per_day: float) -> float | None:
    return max(available, 0) / velocity_per_day if velocity_per_day else None


def reorder_point(velocity_per_day: float, settings: PlanningSettings, safety_stock: int) -> int:
    """The units a slot needs to hold: sales over the lead time, and the safety stock."""
    return math.ceil(velocity_per_day * settings.lead_time_days) + safety_stock


def reorder_units(
    velocity_per_day: float,
    settings: PlanningSettings,
    *,
    safety_stock: int,
    free: int,
    on_order: int,
) -> int:
    """Units to order now; `free` is on hand - reserved."""
    need = reorder_point(velocity_per_day, settings, safety_stock)
    return max(0, need - free - on_order)


def _slot(sku: str, location: str) -> dict[str, Any]:
    return {"sku": sku, "location": location, "on_hand": 0, "reserved": 0, "safety_stock": 0}


class Planning(Projection):
    name: ClassVar[str] = "planning"
    reads: ClassVar[tuple[type, ...] | None] = (*_SLOT_EVENTS, ClockAdvanced)
    tables: ClassVar[tuple[Table, ...]] = (
        Table(
            SLOTS,
            (
                ("sku", TEXT),
                ("location", TEXT),
                ("on_hand", BIGINT),
                ("reserved", BIGINT),
                ("safety_stock", BIGINT),
            ),
            key=("sku", "location"),
        ),
        Table(
            SHIPMENTS,
            (
                ("sku", TEXT),
                ("location", TEXT),
                ("version", BIGINT),
                ("day", BIGINT),
                ("units", BIGINT),
            ),
            key=("sku", "location", "version"),
            indexes=(("day",),),
        ),
        clock_table(CLOCK),
    )

    def keys(self, events: Sequence[Positioned]) -> Iterator[tuple[str, Key]]:
        yield CLOCK, CLOCK_KEY
        slot_events = _SLOT_EVENTS
        for _, event in events:
            data = event.data
            if type(data) in slot_events:
                assert isinstance(data, StockPayload)
                yield SLOTS, (data.sku, data.location)

    def fold(self, rows: Rows, events: Sequence[Positioned]) -> None:
        clock = clock_row(rows, CLOCK)
        now = clock["now"]
        changes = _CHANGES
        # A batch meets few slots many times: each slot's row is asked of `rows` once.
        slots: dict[Key, dict[str, Any]] = {}
        for _, event in events:
            data = event.data
            change = changes.get(type(data))
            if change is None:
                if isinstance(data, ClockAdvanced):
                    now = data.now
                continue
            assert isinstance(data, StockPayload)
            key = (data.sku, data.location)
            slot = slots.get(key)
            if slot is None:
                slot = rows.row(SLOTS, key) or rows.insert(SLOTS, key, _slot(*key))
                slots[key] = slot
            change(rows, slot, data, event.version, now // DAY_S)
        clock["now"] = now


# What each stock event does to its slot's row (and the shipments), by the
# event's exact type: one lookup an event, not a chain of tests.
def _counted(
    rows: Rows,
    slot: dict[str, Any],
    data: StockReceived | StockAdjusted | StockRestocked,
    version: int,
    day: int,
) -> None:
    slot["on_hand"] = data.on_hand


def _reserved(
    rows: Rows,
    slot: dict[str, Any],
    data: StockReserved | HoldReleased | HoldExpired,
    version: int,
    day: int,
) -> None:
    slot["reserved"] = data.reserved


def _shipped(rows: Rows, slot: dict[str, Any], data: StockShipped, version: int, day: int) -> None:
    slot["on_hand"] = data.on_hand
    slot["reserved"] = data.reserved
    rows.append(SHIPMENTS, (data.sku, data.location, version, day, data.quantity))


def _configured(
    rows: Rows, slot: dict[str, Any], data: SlotConfigured, version: int, day: int
) -> None:
    slot["safety_stock"] = data.safety_stock


_CHANGES: Final[dict[type, Callable[[Rows, dict[str, Any], Any, int, int], None]]] = {
    **dict.fromkeys(_ON_HAND, _counted),
    **dict.fromkeys(_RESERVED, _reserved),
    StockShipped: _shipped,
    SlotConfigured: _configured,
}
