"""Logistics against a real server: confirmed orders are picked and shipped, the backlog empties."""

from __future__ import annotations

from consumers.logistics import Shipping
from engine.events import LinesShipped
from projections.logistics import Logistics
from projections.queries import backlog, shipments
from projections.runner import catch_up
from tests.consumers.conftest import Served, credit, kinds, place, slot


def test_confirmed_orders_ship_from_their_locations_and_the_backlog_empties(
    served: Served,
) -> None:
    answers = served.post(
        [
            *slot("sku-a", 30, location="w1"),
            *slot("sku-b", 30, location="w2"),
            credit("c1", 10_000_000),
            place("o-1", "c1", "sku-a", 3),
            place("o-2", "c1", "sku-b", 4),
            place("o-3", "c1", "sku-a", 5),
        ]
    )
    assert all("OrderConfirmed" in kinds(a) for a in answers[-3:])
    catch_up(served.db, served.recorder, [Logistics()])
    assert {(b.location, b.orders, b.units) for b in backlog(served.db)} == {
        ("w1", 2, 8),
        ("w2", 1, 4),
    }

    lines: list[str] = []
    served.runner(Shipping(), lines).catch_up()

    shipped = {
        (e.data.order_id, e.data.shipment_id, e.data.location, e.data.lines[0].quantity)
        for e in served.events()
        if isinstance(e.data, LinesShipped)
    }
    assert shipped == {
        ("o-1", "ship-o-1-w1", "w1", 3),
        ("o-2", "ship-o-2-w2", "w2", 4),
        ("o-3", "ship-o-3-w1", "w1", 5),
    }
    catch_up(served.db, served.recorder, [Logistics()])
    assert backlog(served.db) == []
    assert len(shipments(served.db)) == 3
    assert "pick list w2: o-2: sku-b x 4 -> ship-o-2-w2" in lines

    # Handled again from the start: nothing left open to pick, nothing sent.
    head = served.recorder.max_notification_id()
    runner = served.runner(Shipping())
    with served.db.transaction():
        runner.checkpoints.delete(runner.checkpoint_name)
    runner.catch_up()
    assert served.recorder.max_notification_id() == head
