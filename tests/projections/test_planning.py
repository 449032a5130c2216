"""Planning read model against the engine's stock core and a count of the raw events."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import cast

import pytest
from eventsourcing.persistence import ApplicationRecorder, Notification

from engine.codec import decode
from engine.engine import Engine
from engine.events import ClockAdvanced
from engine.stock.events import StockShipped
from projections.db import Database
from projections.planning import Planning, PlanningSettings
from projections.queries import planning, reorder_suggestions
from projections.runner import catch_up, rebuild
from tests.projections.conftest import dump

DAY_S = 86_400
# The demo trades over its first days, then jumps its clock weeks ahead through
# late payers' invoices; planning is checked on a day it still trades.
TRADING_DAY = 2


class _Until:
    """The store as it was at notification `last`."""

    def __init__(self, store: ApplicationRecorder, last: int) -> None:
        self.store = store
        self.last = last

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        stop = self.last if stop is None else min(stop, self.last)
        return self.store.select_notifications(
            start, limit, stop, topics, inclusive_of_start=inclusive_of_start
        )

    def max_notification_id(self) -> int:
        return self.last


def _shipped_by_day(
    store: ApplicationRecorder, until_day: int | None = None
) -> tuple[ApplicationRecorder, Counter[tuple[str, int]], int]:
    """The store up to the clock's move to `until_day` (all of it for None),
    its units shipped per (SKU, logical day), and its logical day at the end."""
    shipped: Counter[tuple[str, int]] = Counter()
    now = 0
    for n in store.select_notifications(None, 10**9):
        data = decode(n.state).data
        if isinstance(data, ClockAdvanced):
            now = data.now
            if until_day is not None and now // DAY_S >= until_day:
                return cast(ApplicationRecorder, _Until(store, n.id)), shipped, now // DAY_S
        elif isinstance(data, StockShipped):
            shipped[data.sku, now // DAY_S] += data.quantity
    return store, shipped, now // DAY_S


def test_positions_equal_the_stock_core(
    db: Database, demo_store: ApplicationRecorder, demo_engine: Engine
) -> None:
    catch_up(db, demo_store, [Planning()])
    expected: dict[str, list[int]] = {}
    for slot in demo_engine.core.state().slots:
        totals = expected.setdefault(slot.sku, [0, 0, 0])
        totals[0] += slot.on_hand
        totals[1] += slot.reserved
        totals[2] += slot.safety_stock

    plans = planning(db)

    assert {p.sku: [p.on_hand, p.reserved, p.safety_stock] for p in plans} == expected
    assert all(p.available == p.on_hand - p.safety_stock - p.reserved for p in plans)
    assert planning(db, "no-such-sku") == []


def test_velocity_cover_and_reorder_count_the_shipments(
    db: Database, demo_store: ApplicationRecorder
) -> None:
    store, shipped, today = _shipped_by_day(demo_store, TRADING_DAY)
    catch_up(db, store, [Planning()])
    assert today == TRADING_DAY
    settings = PlanningSettings(lead_time_days=5)
    on_order = {"no-such-sku": 10}

    plans = planning(db, settings=settings, on_order=on_order)

    for plan in plans:
        mine = {day: u for (sku, day), u in shipped.items() if sku == plan.sku}
        units_7d = sum(u for day, u in mine.items() if today - 7 <= day < today)
        units_30d = sum(u for day, u in mine.items() if today - 30 <= day < today)
        assert (plan.today, plan.units_7d, plan.units_30d) == (today, units_7d, units_30d)
        velocity_7d = units_7d / min(7, today)
        assert plan.velocity_7d == velocity_7d
        assert plan.velocity_30d == units_30d / min(30, today)
        cover = max(plan.available, 0) / velocity_7d if velocity_7d else None
        assert plan.days_of_cover == cover
        need = math.ceil(velocity_7d * 5) + plan.safety_stock - (plan.on_hand - plan.reserved)
        assert plan.reorder_units == max(0, need)
    assert sum(plan.units_7d for plan in plans) == sum(shipped.values()) > 0
    suggested = reorder_suggestions(db, settings=settings)
    assert suggested == [plan for plan in plans if plan.reorder_units > 0]


def test_weeks_without_shipments_slow_velocity_to_zero(
    db: Database, demo_store: ApplicationRecorder
) -> None:
    catch_up(db, demo_store, [Planning()])
    _, shipped, today = _shipped_by_day(demo_store)
    quiet = {day for day in range(today - 30, today)} - {day for _, day in shipped}
    assert len(quiet) == 30

    plans = planning(db)

    assert plans
    assert {(p.today, p.velocity_30d, p.days_of_cover) for p in plans} == {(today, 0.0, None)}
    assert all(p.reorder_units == max(0, p.safety_stock - p.on_hand + p.reserved) for p in plans)


def test_stock_on_order_lowers_the_suggestion(
    db: Database, demo_store: ApplicationRecorder
) -> None:
    store, _, _ = _shipped_by_day(demo_store, TRADING_DAY)
    catch_up(db, store, [Planning()])
    settings = PlanningSettings(lead_time_days=30)
    plan = max(reorder_suggestions(db, settings=settings), key=lambda p: p.reorder_units)

    [with_order] = planning(db, plan.sku, settings=settings, on_order={plan.sku: 1})

    assert with_order.reorder_units == plan.reorder_units - 1
    assert with_order.on_order == 1
    with pytest.raises(ValueError, match="lead_time_days"):
        PlanningSettings(lead_time_days=-1)


def test_replay_and_rebuild_change_nothing(db: Database, demo_store: ApplicationRecorder) -> None:
    catch_up(db, demo_store, [Planning()], events_max=500)
    tables = [t.name for t in Planning.tables]
    live = {t: sorted(dump(db, t)) for t in tables}

    assert catch_up(db, demo_store, [Planning()]) == 0
    rebuild(db, demo_store, [Planning()], events_max=700)

    assert {t: sorted(dump(db, t)) for t in tables} == live
