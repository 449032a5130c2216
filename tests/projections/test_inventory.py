"""Inventory read models against the engine's own stock core after a demo run."""

from __future__ import annotations

from eventsourcing.persistence import ApplicationRecorder

from engine.engine import Engine
from engine.events import TOPIC_TYPES
from engine.stock.events import StockPayload
from projections.db import Database
from projections.inventory import _CHANGES, Inventory
from projections.queries import movements, stock
from projections.runner import catch_up
from tests.projections.conftest import dump


def test_stock_levels_equal_the_stock_core(
    db: Database, demo_store: ApplicationRecorder, demo_engine: Engine
) -> None:
    catch_up(db, demo_store, [Inventory()])

    rows = dump(db, "stock_levels")
    assert rows
    for sku, location, on_hand, reserved, available, safety, backorder, priority, _ in rows:
        slot = demo_engine.core.slot(sku, location)
        assert slot is not None
        assert (on_hand, reserved, safety, backorder, priority) == (
            slot.on_hand,
            slot.reserved,
            slot.safety_stock,
            slot.backorder_limit,
            slot.priority,
        )
        assert available == slot.on_hand - slot.safety_stock - slot.reserved
    assert len(rows) == len(demo_engine.core.state().slots)


def test_movements_add_up_to_on_hand(db: Database, demo_store: ApplicationRecorder) -> None:
    catch_up(db, demo_store, [Inventory()])

    for level in stock(db):
        lines = movements(db, level.sku, level.location)
        assert sum(line.quantity for line in lines) == level.on_hand
        if lines:
            assert lines[-1].on_hand == level.on_hand
        assert [line.version for line in lines] == sorted(line.version for line in lines)


def test_stock_of_one_sku(
    db: Database, demo_store: ApplicationRecorder, demo_engine: Engine
) -> None:
    catch_up(db, demo_store, [Inventory()])
    sku = demo_engine.core.state().slots[0].sku

    levels = stock(db, sku)

    assert {level.location for level in levels} == {
        s.location for s in demo_engine.core.state().slots if s.sku == sku
    }
    assert stock(db, "no-such-sku") == []


def test_every_stock_payload_has_its_change() -> None:
    # The fold looks changes up by exact type: a payload type missing here would be skipped.
    assert set(_CHANGES) == {t for t in TOPIC_TYPES["stock"] if issubclass(t, StockPayload)}
