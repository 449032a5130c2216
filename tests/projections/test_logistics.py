"""Logistics read models against the engine's orders, batch by batch through a demo run
(it ends with every order shipped, so the backlog is seen on the way)."""

from __future__ import annotations

from collections import Counter

from eventsourcing.persistence import ApplicationRecorder

from engine.engine import Engine
from engine.orders import SHIPPABLE, Order
from projections.db import Database
from projections.logistics import Logistics
from projections.queries import backlog, pick_lines, pick_list, shipments
from projections.runner import catch_up
from tests.projections.conftest import by_notifications
from tests.projections.test_credit import BATCH_EVENTS, EngineAt, replays_idempotently


def _open_holds(orders: dict[str, Order]) -> dict[int, tuple[str, str, str, int]]:
    """hold id -> (order, SKU, location, units to ship) of the orders that may ship."""
    return {
        hold.hold_id: (order.order_id, hold.sku, hold.location, hold.quantity)
        for order in orders.values()
        if order.status in SHIPPABLE
        for hold in order.holds.values()
    }


def test_pick_lists_and_backlog_follow_the_engine_batch_by_batch(
    db: Database, demo_store: ApplicationRecorder
) -> None:
    engine = EngineAt(demo_store)
    seen: Counter[str] = Counter()

    def check(last: int) -> None:
        expected = _open_holds(engine.upto(last).orders)
        summary = backlog(db)
        picked = {
            line.hold_id: (line.order_id, line.sku, line.location, line.open_quantity)
            for level in summary
            for line in pick_list(db, level.location)
        }
        assert picked == expected
        for level in summary:
            mine = [h for h in expected.values() if h[2] == level.location]
            assert level.lines == len(mine)
            assert level.units == sum(h[3] for h in mine)
            assert level.orders == len({h[0] for h in mine})
        seen["cuts"] += bool(expected)

    catch_up(
        db, by_notifications(demo_store), [Logistics()], events_max=BATCH_EVENTS, progress=check
    )

    assert seen["cuts"] >= 2


def test_shipments_and_hold_endings_equal_the_engine(
    db: Database, demo_store: ApplicationRecorder, demo_engine: Engine
) -> None:
    catch_up(db, demo_store, [Logistics()])

    found = shipments(db)
    assert {(s.order_id, s.shipment_id) for s in found} == {
        (o.order_id, s) for o in demo_engine.orders.values() for s in o.shipments
    }
    assert {(s.order_id, s.shipment_id) for s in found if s.delivered_at is not None} == {
        (o.order_id, s) for o in demo_engine.orders.values() for s in o.delivered
    }
    for order in demo_engine.orders.values():
        lines = pick_lines(db, order.order_id)
        assert sum(line.shipped_quantity for line in lines) == sum(order.shipped.values())
        assert all(line.ended_at is not None for line in lines if not line.open_quantity)
        assert shipments(db, order_id=order.order_id) == [
            s for s in found if s.order_id == order.order_id
        ]
    assert Counter(
        line.status for o in demo_engine.orders for line in pick_lines(db, o)
    ).keys() >= {
        "shipped",
        "released",
        "expired",
    }
    open_units = sum(h[3] for h in _open_holds(demo_engine.orders).values())
    assert sum(level.units for level in backlog(db)) == open_units


def test_replay_is_idempotent(db: Database, demo_store: ApplicationRecorder) -> None:
    replays_idempotently(db, demo_store, Logistics())
