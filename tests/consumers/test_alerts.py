"""Low-stock alerts against a real server: a slot shipped down under its reorder point."""

from __future__ import annotations

import math

from consumers.alerts import LowStock, alerts
from projections.clock import DAY_S
from projections.planning import PlanningSettings
from tests.consumers.conftest import Json, Served, credit, place, slot

LEAD_TIME_DAYS = 7
SAFETY = 2


def _clock(day: int) -> Json:
    return {"type": "AdvanceClock", "command_id": f"clock-{day}", "now": day * DAY_S}


def _ship(order_id: str, units: int) -> Json:
    return {
        "type": "ShipLines",
        "command_id": f"ship-{order_id}",
        "order_id": order_id,
        "shipment_id": f"s-{order_id}",
        "location": "w1",
        "lines": [{"sku": "sku-hot", "quantity": units}],
    }


def test_a_slot_under_its_reorder_point_raises_an_alert_with_the_suggested_units(
    served: Served,
) -> None:
    served.post(
        [
            *slot("sku-hot", 20, safety_stock=SAFETY),
            *slot("sku-calm", 50, location="w2"),
            credit("c1", 10_000_000),
            _clock(1),
            place("o-1", "c1", "sku-hot", 6),
            _ship("o-1", 6),
            _clock(2),
            place("o-2", "c1", "sku-hot", 4),
            _ship("o-2", 4),
            place("o-3", "c1", "sku-calm", 1),
            _clock(3),
        ]
    )
    lines: list[str] = []
    runner = served.runner(LowStock(PlanningSettings(LEAD_TIME_DAYS)), lines)
    runner.sink = None  # alerts decide no commands
    runner.catch_up()

    # Computed here from the commands: 10 units shipped in days 1 and 2,
    # over the 3 days the clock has run (fewer than the 7-day window).
    velocity = 10 / 3
    reorder_point = math.ceil(velocity * LEAD_TIME_DAYS) + SAFETY
    free = 20 - 10
    (alert,) = alerts(served.db)
    assert (alert.sku, alert.location) == ("sku-hot", "w1")
    assert alert.reorder_point == reorder_point == 26
    assert alert.suggested_units == reorder_point - free == 16
    assert alert.available == free - SAFETY
    assert any(line.startswith("low stock: sku-hot@w1") for line in lines)

    # Stock arrives: the alert resolves.
    served.post(
        [
            {
                "type": "ReceiveStock",
                "command_id": "rcv-more",
                "sku": "sku-hot",
                "location": "w1",
                "quantity": 40,
                "reference": "po-2",
            }
        ]
    )
    runner.catch_up()
    assert alerts(served.db) == []
    assert [a.status for a in alerts(served.db, status=None)] == ["resolved"]
