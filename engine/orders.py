"""The order aggregate: an order's state, folded from its own events only.

The engine decides what happens to an order (see `engine.engine`); this
module says what an order *is* after each event, so the live engine, a
restart, `stockledger history` and `verify` all read an order the same way.
"""

from __future__ import annotations

from enum import StrEnum

from engine.events import (
    HoldReason,
    LinesReturned,
    LinesShipped,
    OrderCancelled,
    OrderCommandRejected,
    OrderConfirmed,
    OrderCreditHeld,
    OrderDelivered,
    OrderEvent,
    OrderExpired,
    OrderHold,
    OrderLine,
    OrderPlaced,
    OrderRejected,
    OrderStockReserved,
    PaymentCaptured,
)


class OrderStatus(StrEnum):
    PLACED = "placed"
    RESERVED = "reserved"
    CREDIT_HELD = "credit_held"
    CONFIRMED = "confirmed"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    RETURNED = "returned"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# Statuses in which the order still owns stock holds that nothing has shipped from.
CANCELLABLE = frozenset({OrderStatus.RESERVED, OrderStatus.CREDIT_HELD, OrderStatus.CONFIRMED})
AWAITING_DECISION = frozenset({OrderStatus.RESERVED, OrderStatus.CREDIT_HELD})
SHIPPABLE = frozenset({OrderStatus.CONFIRMED, OrderStatus.PARTIALLY_SHIPPED})


class Order:
    """One order. Mutable for speed: only `apply` changes it."""

    __slots__ = (
        "channel",
        "customer_id",
        "delivered",
        "expires_at",
        "held_reason",
        "holds",
        "lines",
        "order_id",
        "paid_cents",
        "payment_terms",
        "returned",
        "shipments",
        "shipped",
        "status",
        "total_cents",
    )

    def __init__(self, placed: OrderPlaced) -> None:
        self.order_id = placed.order_id
        self.customer_id = placed.customer_id
        self.channel = placed.channel
        self.payment_terms = placed.payment_terms
        self.lines: tuple[OrderLine, ...] = placed.lines
        self.total_cents = sum(line.quantity * line.unit_price_cents for line in placed.lines)
        self.status = OrderStatus.PLACED
        self.holds: dict[int, OrderHold] = {}
        self.expires_at = 0
        self.held_reason: HoldReason | None = None
        self.paid_cents = 0
        self.shipped: dict[str, int] = {}
        self.returned: dict[str, int] = {}
        self.delivered: set[str] = set()
        self.shipments: set[str] = set()

    @property
    def prepaid(self) -> bool:
        return self.payment_terms == "prepaid"

    @property
    def ordered(self) -> dict[str, int]:
        quantities: dict[str, int] = {}
        for line in self.lines:
            quantities[line.sku] = quantities.get(line.sku, 0) + line.quantity
        return quantities

    def apply(self, event: OrderEvent) -> None:
        kind = type(event)
        if kind is OrderStockReserved:
            assert isinstance(event, OrderStockReserved)
            self.holds = {h.hold_id: h for h in event.holds}
            self.expires_at = event.expires_at
            self.status = OrderStatus.RESERVED
        elif kind is OrderConfirmed:
            self.status = OrderStatus.CONFIRMED
            self.held_reason = None
        elif kind is OrderCreditHeld:
            assert isinstance(event, OrderCreditHeld)
            self.status = OrderStatus.CREDIT_HELD
            self.held_reason = event.reason
        elif kind is PaymentCaptured:
            assert isinstance(event, PaymentCaptured)
            self.paid_cents += event.amount_cents
        elif kind is LinesShipped:
            assert isinstance(event, LinesShipped)
            self._ship(event)
        elif kind is OrderDelivered:
            assert isinstance(event, OrderDelivered)
            self.delivered.add(event.shipment_id)
            if self.status is OrderStatus.SHIPPED and self.delivered >= self.shipments:
                self.status = OrderStatus.DELIVERED
        elif kind is LinesReturned:
            assert isinstance(event, LinesReturned)
            for line in event.lines:
                self.returned[line.sku] = self.returned.get(line.sku, 0) + line.quantity
            everything = all(self.returned.get(s, 0) >= q for s, q in self.shipped.items())
            if everything and self.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
                self.status = OrderStatus.RETURNED
        elif kind in (OrderRejected, OrderCancelled, OrderExpired):
            self.status = _ENDING[kind]
            self.holds = {}
        elif kind is not OrderCommandRejected:
            msg = f"order {self.order_id}: {kind.__name__} does not apply to an order"
            raise TypeError(msg)

    def _ship(self, event: LinesShipped) -> None:
        self.shipments.add(event.shipment_id)
        for line in event.lines:
            self.shipped[line.sku] = self.shipped.get(line.sku, 0) + line.quantity
            for hold, quantity in self.take(line.sku, event.location, line.quantity):
                left = hold.quantity - quantity
                if left:
                    self.holds[hold.hold_id] = OrderHold(
                        hold.sku, hold.location, hold.hold_id, left
                    )
                else:
                    del self.holds[hold.hold_id]
        everything = all(self.shipped.get(s, 0) >= q for s, q in self.ordered.items())
        self.status = OrderStatus.SHIPPED if everything else OrderStatus.PARTIALLY_SHIPPED

    def take(self, sku: str, location: str, quantity: int) -> list[tuple[OrderHold, int]]:
        """How a shipment of `quantity` draws on this order's holds: oldest hold first.

        Falls short (the amounts add up to less) when the holds hold less.
        """
        taken = []
        for hold_id in sorted(self.holds):
            hold = self.holds[hold_id]
            if quantity and hold.sku == sku and hold.location == location:
                amount = min(quantity, hold.quantity)
                taken.append((hold, amount))
                quantity -= amount
        return taken

    def value_of(self, sku: str, quantity: int, after: int = 0) -> int:
        """The price of `quantity` units of `sku`, the first `after` units skipped.

        A SKU on several lines at several prices is counted line by line, in
        order: shipping (or returning) the first units prices them at the
        first line's price, the next at the next line's.
        """
        value = 0
        for line in self.lines:
            if line.sku != sku or not quantity:
                continue
            skipped = min(after, line.quantity)
            after -= skipped
            units = min(quantity, line.quantity - skipped)
            value += units * line.unit_price_cents
            quantity -= units
        return value


_ENDING: dict[type, OrderStatus] = {
    OrderRejected: OrderStatus.REJECTED,
    OrderCancelled: OrderStatus.CANCELLED,
    OrderExpired: OrderStatus.EXPIRED,
}


def fold_order(events: list[OrderEvent]) -> Order | None:
    """The order after `events` (its stream, in order); None before it was placed."""
    order: Order | None = None
    for event in events:
        if order is None:
            if isinstance(event, OrderPlaced):
                order = Order(event)
            continue
        order.apply(event)
    return order
