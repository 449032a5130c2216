"""Low-stock alerts per SKU x location, each with a reorder suggestion.

On every stock event of a slot the consumer looks at the slot as the read
models have it (inventory and planning, caught up past the batch first):

- velocity: units shipped from *this slot* in the 7 complete logical days
  before today, a day (`projections.planning.velocity`). The planning queries
  sum velocity per SKU over its locations; a slot's own is summed here from
  the planning read model's shipment lines (`planning_shipments`);
- reorder point = ceil(velocity x lead time) + safety stock, in units on the
  shelf and not promised (on hand - reserved). Below it means available
  (on hand - safety stock - reserved) is under velocity x lead time: the slot
  runs out of sellable stock before a reorder would arrive. With nothing
  shipped yet, that is available under 0;
- suggestion = reorder point - (on hand - reserved): what brings the slot back
  to its reorder point (`projections.planning.reorder_units`, nothing on order).

`stock_alerts` has a row per slot ever alerted: `open` while under its
reorder point, with the figures of its last evaluation, then `resolved`.
An alert is printed when it opens, when its suggestion changes, and when
it resolves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final

from consumers.consumer import Consumer, Effects
from engine.events import StreamEvent
from engine.stock.events import StockPayload
from projections.db import Database
from projections.inventory import Inventory
from projections.planning import (
    VELOCITY_WINDOWS_DAYS,
    Planning,
    PlanningSettings,
    reorder_point,
    reorder_units,
    velocity,
)
from projections.queries import planning_today, stock

__all__ = ["ALERTS", "Alert", "LowStock", "alerts"]

ALERTS: Final = "stock_alerts"
OPEN: Final = "open"
RESOLVED: Final = "resolved"
WINDOW_DAYS: Final = VELOCITY_WINDOWS_DAYS[0]

_FIELDS: Final = (
    "sku",
    "location",
    "status",
    "on_hand",
    "reserved",
    "safety_stock",
    "available",
    "velocity_per_day",
    "lead_time_days",
    "reorder_point",
    "suggested_units",
    "today",
)


@dataclass(frozen=True)
class Alert:
    sku: str
    location: str
    status: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int
    velocity_per_day: float
    lead_time_days: int
    reorder_point: int
    suggested_units: int
    today: int


_UPSERT: Final = (
    f"INSERT INTO {ALERTS} ({', '.join(_FIELDS)}) VALUES ({', '.join('?' * len(_FIELDS))}) "
    f"ON CONFLICT (sku, location) DO UPDATE SET "
    + ", ".join(f"{f} = excluded.{f}" for f in _FIELDS[2:])
)


def alerts(db: Database, *, status: str | None = OPEN) -> list[Alert]:
    """The alerts of that status (every one for None), by SKU and location."""
    where, params = (" WHERE status = ?", (status,)) if status is not None else ("", ())
    rows = db.execute(
        f"SELECT {', '.join(_FIELDS)} FROM {ALERTS}{where} ORDER BY sku, location", params
    )
    return [Alert(*row) for row in rows]


class LowStock(Consumer):
    name: ClassVar[str] = "alerts"
    reads = (Inventory(), Planning())

    def __init__(self, settings: PlanningSettings | None = None) -> None:
        self.settings = settings or PlanningSettings()
        self._seen: set[tuple[str, str]] = set()

    def ensure_schema(self, db: Database) -> None:
        columns = ", ".join(
            f"{name} {'TEXT' if name in ('sku', 'location', 'status') else 'BIGINT'}"
            for name in _FIELDS
        ).replace("velocity_per_day BIGINT", "velocity_per_day DOUBLE PRECISION")
        with db.transaction():
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {ALERTS} ({columns}, PRIMARY KEY (sku, location))"
            )

    def begin_batch(self) -> None:
        # The slot is read as it is now, so once a batch is enough however many events it had.
        self._seen.clear()

    def handle(self, db: Database, event: StreamEvent) -> Effects:
        data = event.data
        if not isinstance(data, StockPayload) or (data.sku, data.location) in self._seen:
            return Effects()
        self._seen.add((data.sku, data.location))
        alert = self.evaluate(db, data.sku, data.location)
        before = db.execute(
            f"SELECT status, suggested_units FROM {ALERTS} WHERE sku = ? AND location = ?",
            (data.sku, data.location),
        )
        was_open = bool(before) and before[0][0] == OPEN
        if alert is None:
            if not was_open:
                return Effects()
            resolved = (RESOLVED, data.sku, data.location)
            return Effects(
                writes=[
                    (f"UPDATE {ALERTS} SET status = ? WHERE sku = ? AND location = ?", resolved)
                ],
                lines=[f"resolved: {data.sku}@{data.location} is back at its reorder point"],
            )
        effects = Effects(writes=[(_UPSERT, _values(alert))])
        if not was_open or before[0][1] != alert.suggested_units:
            effects.lines.append(
                f"low stock: {alert.sku}@{alert.location} available {alert.available}, "
                f"reorder point {alert.reorder_point} (velocity {alert.velocity_per_day:.2f}/day x "
                f"{alert.lead_time_days} days + safety {alert.safety_stock}): "
                f"reorder {alert.suggested_units}"
            )
        return effects

    def evaluate(self, db: Database, sku: str, location: str) -> Alert | None:
        """The slot's alert if it is under its reorder point now, else None."""
        found = stock(db, sku, location=location, limit=1)
        if not found:
            return None
        level = found[0]
        today = planning_today(db)
        shipped = db.execute(
            "SELECT COALESCE(SUM(units), 0) FROM planning_shipments "
            "WHERE sku = ? AND location = ? AND day >= ? AND day < ?",
            (sku, location, today - WINDOW_DAYS, today),
        )
        per_day = velocity(int(shipped[0][0]), WINDOW_DAYS, today)
        free = level.on_hand - level.reserved
        suggested = reorder_units(
            per_day, self.settings, safety_stock=level.safety_stock, free=free, on_order=0
        )
        if not suggested:
            return None
        return Alert(
            sku=sku,
            location=location,
            status=OPEN,
            on_hand=level.on_hand,
            reserved=level.reserved,
            safety_stock=level.safety_stock,
            available=level.available,
            velocity_per_day=per_day,
            lead_time_days=self.settings.lead_time_days,
            reorder_point=reorder_point(per_day, self.settings, level.safety_stock),
            suggested_units=suggested,
            today=today,
        )


def _values(alert: Alert) -> tuple[Any, ...]:
    return tuple(getattr(alert, name) for name in _FIELDS)
