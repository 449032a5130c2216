"""Logistics: pick lists per location for confirmed orders, and their shipments back as commands.

On each `OrderConfirmed` the consumer reads the order's open pick lines from
the logistics read model (`projections.queries.pick_lines`, caught up past
the event before the batch), prints the pick list of each location it is held
at, and simulates the warehouse: what was picked ships at once, one
`ShipLines` per order and location, with shipment id and command id
`ship-<order id>-<location>`. A confirmed order is confirmed once, so the id
is deterministic: sent again after a restart it is answered as a retry, and
an order shipped meanwhile has no open lines left to pick.
"""

from __future__ import annotations

from collections import defaultdict
from typing import ClassVar

from consumers.consumer import Consumer, Effects
from consumers.sink import command_id
from engine.commands import ShipLines, SkuQuantity
from engine.events import OrderConfirmed, StreamEvent
from projections.db import Database
from projections.logistics import CONFIRMED, Logistics
from projections.queries import pick_lines

__all__ = ["Shipping"]


class Shipping(Consumer):
    name: ClassVar[str] = "logistics"
    reads = (Logistics(),)

    def handle(self, db: Database, event: StreamEvent) -> Effects:
        confirmed = event.data
        if not isinstance(confirmed, OrderConfirmed):
            return Effects()
        order_id = confirmed.order_id
        picked: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for line in pick_lines(db, order_id):
            if line.status == CONFIRMED and line.open_quantity > 0:
                picked[line.location][line.sku] += line.open_quantity
        effects = Effects()
        for location, units in sorted(picked.items()):
            shipment_id = command_id("ship", order_id, location)
            effects.commands.append(
                ShipLines(
                    command_id=shipment_id,
                    order_id=order_id,
                    shipment_id=shipment_id,
                    location=location,
                    lines=tuple(SkuQuantity(sku, n) for sku, n in sorted(units.items())),
                )
            )
            listed = ", ".join(f"{sku} x {n}" for sku, n in sorted(units.items()))
            effects.lines.append(f"pick list {location}: {order_id}: {listed} -> {shipment_id}")
        return effects
