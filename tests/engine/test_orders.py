"""The order aggregate on its own: what an order is after each of its events."""

from __future__ import annotations

import pytest

from engine.events import (
    ClockAdvanced,
    CommandReason,
    Disposition,
    HoldReason,
    LineQuantity,
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
    OrderRejectionReason,
    OrderStockReserved,
    PaymentCaptured,
    ReturnedLine,
)
from engine.orders import (
    AWAITING_DECISION,
    CANCELLABLE,
    SHIPPABLE,
    Order,
    OrderStatus,
    fold_order,
)
from tests.engine.conftest import SHIP_TO

PLACED = OrderPlaced(
    order_id="o1",
    customer_id="cu",
    channel="web",
    payment_terms="net-30",
    ship_to=SHIP_TO,
    lines=(OrderLine("A", 3, 100), OrderLine("B", 2, 250), OrderLine("A", 1, 90)),
)
# A: 2 at east (hold 1), 2 at west (hold 2); B: 2 at east (hold 3).
RESERVED = OrderStockReserved(
    order_id="o1",
    holds=(
        OrderHold("A", "east", 1, 2),
        OrderHold("A", "west", 2, 2),
        OrderHold("B", "east", 3, 2),
    ),
    expires_at=900,
)
CONFIRMED = OrderConfirmed(order_id="o1", total_cents=890)


def shipped(shipment_id: str, location: str, *lines: tuple[str, int]) -> LinesShipped:
    return LinesShipped(
        order_id="o1",
        shipment_id=shipment_id,
        location=location,
        lines=tuple(LineQuantity(sku, quantity) for sku, quantity in lines),
    )


def status_of(order: Order) -> OrderStatus:
    """The status, read through a call so mypy does not narrow it across `apply`."""
    return order.status


def order_after(*events: OrderEvent) -> Order:
    order = fold_order([PLACED, *events])
    assert order is not None
    return order


def test_a_placed_order_knows_its_totals_and_prices() -> None:
    order = order_after()

    assert status_of(order) is OrderStatus.PLACED
    assert order.total_cents == 3 * 100 + 2 * 250 + 90
    assert order.ordered == {"A": 4, "B": 2}
    assert order.value_of("A", 2) == 200
    # A's fourth unit is on the line priced 90.
    assert order.value_of("A", 4) == 390
    assert order.value_of("A", 1, after=3) == 90
    assert order.value_of("Z", 2) == 0
    assert not order.prepaid
    assert (order.holds, order.paid_cents, order.held_reason) == ({}, 0, None)


def test_fold_of_nothing_is_no_order() -> None:
    assert fold_order([]) is None


def test_fold_skips_what_came_before_the_order_was_placed() -> None:
    early = OrderCommandRejected(
        order_id="o1",
        command_id="c1",
        command="CancelOrder",
        reason=CommandReason.UNKNOWN_ORDER,
        detail="no order 'o1'",
    )

    assert fold_order([early]) is None
    order = fold_order([early, OrderCancelled(order_id="o1", reason="x"), PLACED, RESERVED])
    assert order is not None
    assert status_of(order) is OrderStatus.RESERVED


def test_reservation_records_holds_and_expiry() -> None:
    order = order_after(RESERVED)

    assert status_of(order) is OrderStatus.RESERVED
    assert order.holds == {h.hold_id: h for h in RESERVED.holds}
    assert order.expires_at == 900


def test_credit_hold_then_confirmation() -> None:
    held = order_after(RESERVED, OrderCreditHeld(order_id="o1", reason=HoldReason.OVERDUE))
    assert (held.status, held.held_reason) == (OrderStatus.CREDIT_HELD, HoldReason.OVERDUE)

    held.apply(CONFIRMED)
    assert (held.status, held.held_reason) == (OrderStatus.CONFIRMED, None)
    assert len(held.holds) == 3


def test_captured_payments_add_up() -> None:
    order = order_after(
        RESERVED,
        PaymentCaptured(order_id="o1", payment_id="p1", amount_cents=500),
        PaymentCaptured(order_id="o1", payment_id="p2", amount_cents=390),
    )

    assert order.paid_cents == 890
    assert status_of(order) is OrderStatus.RESERVED


def test_partial_shipment_draws_oldest_hold_first_then_full_shipment() -> None:
    order = order_after(RESERVED, CONFIRMED, shipped("s1", "east", ("A", 1), ("B", 2)))

    assert status_of(order) is OrderStatus.PARTIALLY_SHIPPED
    assert order.shipped == {"A": 1, "B": 2}
    assert order.shipments == {"s1"}
    assert order.holds == {1: OrderHold("A", "east", 1, 1), 2: OrderHold("A", "west", 2, 2)}

    order.apply(shipped("s2", "east", ("A", 1)))
    assert status_of(order) is OrderStatus.PARTIALLY_SHIPPED
    assert order.holds == {2: OrderHold("A", "west", 2, 2)}

    order.apply(shipped("s3", "west", ("A", 2)))
    assert status_of(order) is OrderStatus.SHIPPED
    assert order.shipped == {"A": 4, "B": 2}
    assert order.holds == {}


def test_take_draws_only_matching_holds_oldest_first_and_may_fall_short() -> None:
    order = order_after(
        OrderStockReserved(
            order_id="o1",
            holds=(
                OrderHold("A", "east", 7, 2),
                OrderHold("A", "west", 5, 4),
                OrderHold("A", "east", 3, 1),
            ),
            expires_at=900,
        )
    )

    taken = order.take("A", "east", 2)
    assert [(hold.hold_id, amount) for hold, amount in taken] == [(3, 1), (7, 1)]
    assert [(h.hold_id, a) for h, a in order.take("A", "east", 9)] == [(3, 1), (7, 2)]
    assert order.take("B", "east", 1) == []
    assert order.take("A", "north", 1) == []


def test_delivered_only_when_fully_shipped_and_every_shipment_delivered() -> None:
    order = order_after(RESERVED, CONFIRMED, shipped("s1", "east", ("A", 2), ("B", 2)))

    order.apply(OrderDelivered(order_id="o1", shipment_id="s1"))
    assert status_of(order) is OrderStatus.PARTIALLY_SHIPPED
    assert order.delivered == {"s1"}

    order.apply(shipped("s2", "west", ("A", 2)))
    assert status_of(order) is OrderStatus.SHIPPED

    order.apply(OrderDelivered(order_id="o1", shipment_id="s2"))
    assert status_of(order) is OrderStatus.DELIVERED


def test_shipped_order_waits_for_every_delivery() -> None:
    order = order_after(
        RESERVED,
        CONFIRMED,
        shipped("s1", "east", ("A", 2), ("B", 2)),
        shipped("s2", "west", ("A", 2)),
        OrderDelivered(order_id="o1", shipment_id="s2"),
    )

    assert status_of(order) is OrderStatus.SHIPPED


def test_returns_accumulate_per_sku() -> None:
    order = order_after(
        RESERVED,
        CONFIRMED,
        shipped("s1", "east", ("A", 2), ("B", 2)),
        LinesReturned(
            order_id="o1", return_id="r1", lines=(ReturnedLine("A", 1, Disposition.RESTOCK),)
        ),
        LinesReturned(
            order_id="o1",
            return_id="r2",
            lines=(
                ReturnedLine("A", 1, Disposition.WRITE_OFF),
                ReturnedLine("B", 2, Disposition.RESTOCK),
            ),
        ),
    )

    assert order.returned == {"A": 2, "B": 2}
    assert status_of(order) is OrderStatus.PARTIALLY_SHIPPED


@pytest.mark.parametrize(
    ("ending", "status"),
    [
        (
            OrderRejected(
                order_id="o1", reason=OrderRejectionReason.CREDIT_REJECTED, detail="over"
            ),
            OrderStatus.REJECTED,
        ),
        (OrderCancelled(order_id="o1", reason="changed mind"), OrderStatus.CANCELLED),
        (OrderExpired(order_id="o1"), OrderStatus.EXPIRED),
    ],
)
def test_endings_drop_the_holds(ending: OrderEvent, status: OrderStatus) -> None:
    order = order_after(RESERVED, ending)

    assert order.status is status
    assert order.holds == {}


def test_a_rejected_command_changes_nothing() -> None:
    order = order_after(
        RESERVED,
        OrderCommandRejected(
            order_id="o1",
            command_id="c9",
            command="ShipLines",
            reason=CommandReason.INVALID_STATE,
            detail="not confirmed",
        ),
    )

    assert status_of(order) is OrderStatus.RESERVED
    assert len(order.holds) == 3


def test_an_event_that_is_not_about_an_order_is_refused() -> None:
    order = order_after()

    with pytest.raises(TypeError, match="order o1: ClockAdvanced does not apply to an order"):
        order.apply(ClockAdvanced(now=5))


def test_prepaid_terms() -> None:
    order = Order(
        OrderPlaced(
            order_id="o2",
            customer_id="cu",
            channel="web",
            payment_terms="prepaid",
            ship_to=SHIP_TO,
            lines=(OrderLine("A", 1, 100),),
        )
    )

    assert order.prepaid


def test_which_statuses_allow_what() -> None:
    assert {OrderStatus.RESERVED, OrderStatus.CREDIT_HELD} == AWAITING_DECISION
    assert AWAITING_DECISION | {OrderStatus.CONFIRMED} == CANCELLABLE
    assert {OrderStatus.CONFIRMED, OrderStatus.PARTIALLY_SHIPPED} == SHIPPABLE


def test_an_order_whose_every_shipped_unit_came_back_is_returned() -> None:
    partly = order_after(
        RESERVED,
        CONFIRMED,
        shipped("s1", "east", ("A", 4), ("B", 2)),
        OrderDelivered(order_id="o1", shipment_id="s1"),
        LinesReturned(
            order_id="o1", return_id="r1", lines=(ReturnedLine("A", 4, Disposition.RESTOCK),)
        ),
    )
    assert status_of(partly) is OrderStatus.DELIVERED
    assert partly is not None
    partly.apply(
        LinesReturned(
            order_id="o1", return_id="r2", lines=(ReturnedLine("B", 2, Disposition.WRITE_OFF),)
        )
    )
    assert status_of(partly) is OrderStatus.RETURNED
