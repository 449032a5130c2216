"""The order saga through the real engine on a real embedded store.

Each test drives `Engine.submit` and checks the exact events it answers with,
then the state they leave: order status, stock core, credit exposure.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import msgspec
import pytest

from engine.commands import AnyCommand, json_decoder
from engine.engine import EngineBrokenError
from engine.events import (
    ClockAdvanced,
    CommandReason,
    CreditApproved,
    CreditCommandRejected,
    CreditHeld,
    CreditNoteIssued,
    CreditRejected,
    CreditRejectionReason,
    CreditReleased,
    CreditReviewDecided,
    Disposition,
    HoldReason,
    InvoiceIssued,
    InvoiceOverdue,
    LineQuantity,
    LinesReturned,
    LinesShipped,
    OrderCancelled,
    OrderCommandRejected,
    OrderConfirmed,
    OrderCreditHeld,
    OrderDelivered,
    OrderExpired,
    OrderHold,
    OrderLine,
    OrderPlaced,
    OrderRejected,
    OrderRejectionReason,
    OrderStockReserved,
    PaymentCaptured,
    PaymentRecorded,
    ReturnedLine,
)
from engine.stock.events import (
    HoldConfirmed,
    HoldExpired,
    HoldReleased,
    Reason,
    SlotConfigured,
    StockAdjusted,
    StockReceived,
    StockRejected,
    StockReserved,
    StockRestocked,
    StockShipped,
)
from engine.stock.state import HoldState
from tests.engine.conftest import (
    DAY_S,
    LIMIT_CENTS,
    SHIP_TO,
    TTL_S,
    Shop,
    adjust,
    advance,
    cancel,
    capture,
    configure,
    deliver,
    kinds,
    line,
    pay,
    payloads,
    place,
    receive,
    return_lines,
    returned,
    review,
    set_limit,
    ship,
    stock_up,
)

RESTOCK = Disposition.RESTOCK
WRITE_OFF = Disposition.WRITE_OFF
NET_30_S = 30 * DAY_S


def rejection(answer_events: Sequence[object]) -> OrderCommandRejected:
    assert len(answer_events) == 1, answer_events
    (event,) = answer_events
    assert isinstance(event, OrderCommandRejected), event
    return event


def reserved_a(
    hold_id: int, quantity: int, location: str = "east", reserved: int = 0
) -> StockReserved:
    return StockReserved(
        sku="A",
        location=location,
        hold_id=hold_id,
        order_id="o1",
        quantity=quantity,
        expires_at=TTL_S,
        reserved=reserved or quantity,
    )


# ---------------------------------------------------------------- placing


def test_place_reserves_approves_and_confirms(shop: Shop) -> None:
    answer = shop.one(place("o1", line("A", 3)))

    assert payloads(answer) == [
        OrderPlaced(
            order_id="o1",
            customer_id="cu",
            channel="web",
            payment_terms="net-30",
            ship_to=SHIP_TO,
            lines=(OrderLine("A", 3, 100),),
        ),
        reserved_a(1, 3),
        OrderStockReserved(order_id="o1", holds=(OrderHold("A", "east", 1, 3),), expires_at=TTL_S),
        CreditApproved(customer_id="cu", order_id="o1", amount_cents=300, exposure_cents=300),
        HoldConfirmed(sku="A", location="east", hold_id=1, quantity=3),
        OrderConfirmed(order_id="o1", total_cents=300),
    ]
    assert [(e.stream_id, e.version) for e in answer.events] == [
        ("order-o1", 1),
        ("sku-A@east", 3),
        ("order-o1", 2),
        ("customer-cu", 2),
        ("sku-A@east", 4),
        ("order-o1", 3),
    ]
    assert shop.status("o1") == "confirmed"
    assert shop.engine.core.state().holds == (HoldState(1, "A", "east", 3, TTL_S, True),)
    assert shop.available("A", "east") == (10, 3)
    assert shop.exposure() == 300


def test_reservation_splits_across_locations_by_priority(shop: Shop) -> None:
    events = shop.events(place("o1", line("A", 12)))

    assert events[1:4] == [
        reserved_a(1, 10, "east"),
        reserved_a(2, 2, "west"),
        OrderStockReserved(
            order_id="o1",
            holds=(OrderHold("A", "east", 1, 10), OrderHold("A", "west", 2, 2)),
            expires_at=TTL_S,
        ),
    ]
    assert kinds(shop.one(place("o2", line("A", 1)))) == [
        "OrderPlaced",
        "StockReserved",
        "OrderStockReserved",
        "CreditApproved",
        "HoldConfirmed",
        "OrderConfirmed",
    ]
    assert shop.available("A", "east") == (10, 10)
    assert shop.available("A", "west") == (5, 3)


def test_one_short_line_rejects_the_whole_order_and_reserves_nothing(shop: Shop) -> None:
    events = shop.events(place("o1", line("A", 2), line("B", 5)))

    assert events[1:] == [
        OrderRejected(
            order_id="o1",
            reason=OrderRejectionReason.INSUFFICIENT_STOCK,
            detail="lines[1]: 5 requested, 4 available",
        )
    ]
    assert shop.status("o1") == "rejected"
    assert shop.available("A", "east") == (10, 0)
    assert shop.available("B", "east") == (4, 0)
    assert shop.engine.core.state().holds == ()
    assert shop.exposure() == 0


def test_unknown_sku_rejects_the_order(shop: Shop) -> None:
    events = shop.events(place("o1", line("A", 1), line("Z", 1)))

    assert events[1:] == [
        OrderRejected(
            order_id="o1",
            reason=OrderRejectionReason.UNKNOWN_SKU,
            detail="lines[1]: sku is not configured at any location",
        )
    ]
    assert shop.available("A", "east") == (10, 0)


def test_net_terms_order_without_credit_account_is_rejected(shop: Shop) -> None:
    events = shop.events(place("o1", line("A", 1), customer="stranger"))

    assert events[1:] == [
        OrderRejected(
            order_id="o1",
            reason=OrderRejectionReason.NO_CREDIT_ACCOUNT,
            detail="customer stranger has no credit account: set a credit limit first",
        )
    ]
    assert shop.available("A", "east") == (10, 0)


def test_a_rejected_payment_opens_no_credit_account(shop: Shop) -> None:
    shop.one(pay(100, customer="stranger"))

    events = shop.events(place("o1", customer="stranger"))

    assert isinstance(events[1], OrderRejected)
    assert events[1].reason is OrderRejectionReason.NO_CREDIT_ACCOUNT


def test_duplicate_order_id_is_rejected_and_leaves_the_order_alone(shop: Shop) -> None:
    shop.one(place("o1", line("A", 3)))

    answer = shop.one(place("o1", line("A", 5)))

    event = rejection(payloads(answer))
    assert (event.order_id, event.command, event.reason) == (
        "o1",
        "PlaceOrder",
        CommandReason.DUPLICATE_ORDER,
    )
    assert event.command_id == answer.command_id
    assert answer.events[0].stream_id == "order-o1"
    assert shop.engine.orders["o1"].total_cents == 300
    assert shop.available("A", "east") == (10, 3)


def kinds_of(events: Sequence[object]) -> list[str]:
    return [type(event).__name__ for event in events]


# ---------------------------------------------------------------- credit


def test_order_that_reaches_the_limit_exactly_is_approved(shop: Shop) -> None:
    events = shop.events(place("o1", line("A", 1, LIMIT_CENTS)))

    assert events[3] == CreditApproved(
        customer_id="cu", order_id="o1", amount_cents=LIMIT_CENTS, exposure_cents=LIMIT_CENTS
    )
    assert shop.status("o1") == "confirmed"


def test_order_inside_the_tolerance_band_is_held_for_review(shop: Shop) -> None:
    shop.one(place("o1", line("A", 1, 9_000)))

    events = shop.events(place("o2", line("A", 1, 1_001)))

    assert events[3:] == [
        CreditHeld(
            customer_id="cu",
            order_id="o2",
            amount_cents=1_001,
            exposure_cents=9_000,
            reason=HoldReason.TOLERANCE_BAND,
        ),
        OrderCreditHeld(order_id="o2", reason=HoldReason.TOLERANCE_BAND),
    ]
    assert shop.status("o2") == "credit_held"
    assert shop.exposure() == 9_000
    # The held order keeps its stock, unconfirmed.
    assert shop.engine.core.state().holds[-1] == HoldState(2, "A", "east", 1, TTL_S, False)


def test_order_at_the_top_of_the_band_is_held(shop: Shop) -> None:
    events = shop.events(place("o1", line("A", 1, 11_000)))

    assert kinds_of(events)[3:] == ["CreditHeld", "OrderCreditHeld"]


def test_order_above_the_band_is_rejected_and_its_stock_freed(shop: Shop) -> None:
    events = shop.events(place("o1", line("A", 2, 5_500), line("B", 1, 1)))

    assert events[4:] == [
        CreditRejected(
            customer_id="cu",
            order_id="o1",
            amount_cents=11_001,
            exposure_cents=0,
            limit_cents=LIMIT_CENTS,
            reason=CreditRejectionReason.OVER_LIMIT,
        ),
        HoldReleased(sku="A", location="east", hold_id=1, quantity=2, remaining=0, reserved=0),
        HoldReleased(sku="B", location="east", hold_id=2, quantity=1, remaining=0, reserved=0),
        OrderRejected(
            order_id="o1",
            reason=OrderRejectionReason.CREDIT_REJECTED,
            detail="exposure 0 + order 11001 cents is over the limit 10000 and its tolerance",
        ),
    ]
    assert shop.status("o1") == "rejected"
    assert shop.available("A", "east") == (10, 0)
    assert shop.available("B", "east") == (4, 0)
    assert shop.engine.core.state().holds == ()
    assert shop.exposure() == 0


def overdue_customer(shop: Shop) -> None:
    """Customer cu with invoice o1/s1 (100 cents) overdue."""
    shop.submit(place("o1"), ship("o1", "s1", "east", ("A", 1)), advance(NET_30_S + 1))
    assert shop.engine.accounts["cu"].overdue


def test_customer_with_an_overdue_invoice_is_held_even_within_the_limit(shop: Shop) -> None:
    overdue_customer(shop)

    events = shop.events(place("o2"))

    assert events[3:] == [
        CreditHeld(
            customer_id="cu",
            order_id="o2",
            amount_cents=100,
            exposure_cents=100,
            reason=HoldReason.OVERDUE,
        ),
        OrderCreditHeld(order_id="o2", reason=HoldReason.OVERDUE),
    ]


def test_overdue_customer_above_the_band_is_rejected(shop: Shop) -> None:
    overdue_customer(shop)

    events = shop.events(place("o2", line("A", 1, 11_000)))

    assert isinstance(events[3], CreditRejected)


def test_review_approval_confirms_the_held_order(shop: Shop) -> None:
    shop.submit(place("o1", line("A", 1, 9_000)), place("o2", line("A", 2, 1_000)))

    events = shop.events(review("o2", approve=True))

    assert events == [
        CreditReviewDecided(
            customer_id="cu",
            order_id="o2",
            approved=True,
            decided_by="ana",
            why="checked",
            amount_cents=2_000,
            exposure_cents=9_000,
        ),
        HoldConfirmed(sku="A", location="east", hold_id=2, quantity=2),
        OrderConfirmed(order_id="o2", total_cents=2_000),
    ]
    assert shop.status("o2") == "confirmed"
    assert shop.exposure() == 11_000


def test_review_rejection_releases_the_holds_and_rejects_the_order(shop: Shop) -> None:
    shop.submit(place("o1", line("A", 1, 9_000)), place("o2", line("A", 2, 1_000)))

    events = shop.events(review("o2", approve=False))

    assert events == [
        CreditReviewDecided(
            customer_id="cu",
            order_id="o2",
            approved=False,
            decided_by="ana",
            why="checked",
            amount_cents=2_000,
            exposure_cents=9_000,
        ),
        HoldReleased(sku="A", location="east", hold_id=2, quantity=2, remaining=0, reserved=1),
        OrderRejected(
            order_id="o2",
            reason=OrderRejectionReason.CREDIT_REJECTED,
            detail="review by ana: checked",
        ),
    ]
    assert shop.status("o2") == "rejected"
    assert shop.available("A", "east") == (10, 1)
    assert shop.exposure() == 9_000


def test_review_of_an_order_not_held_is_invalid_state(shop: Shop) -> None:
    shop.submit(place("o1"), place("pp", terms="prepaid"))

    confirmed = rejection(shop.events(review("o1", approve=True)))
    awaiting_payment = rejection(shop.events(review("pp", approve=True)))

    assert confirmed.reason is CommandReason.INVALID_STATE
    assert confirmed.detail == (
        "order o1 is confirmed; DecideCreditReview needs it held for credit review"
    )
    assert awaiting_payment.reason is CommandReason.INVALID_STATE
    assert shop.status("o1") == "confirmed"
    assert shop.status("pp") == "credit_held"


def test_review_of_an_unknown_order_is_rejected(shop: Shop) -> None:
    answer = shop.one(review("nope", approve=True))

    assert rejection(payloads(answer)).reason is CommandReason.UNKNOWN_ORDER
    assert answer.events[0].stream_id == "order-nope"


# ---------------------------------------------------------------- prepaid


def test_prepaid_order_waits_for_its_payment_then_confirms(shop: Shop) -> None:
    events = shop.events(place("o1", line("A", 3), customer="walk-in", terms="prepaid"))

    assert kinds_of(events) == [
        "OrderPlaced",
        "StockReserved",
        "OrderStockReserved",
        "OrderCreditHeld",
    ]
    assert events[-1] == OrderCreditHeld(order_id="o1", reason=HoldReason.AWAITING_PAYMENT)

    partly = shop.events(capture("o1", 200, "p-1"))
    assert partly == [PaymentCaptured(order_id="o1", payment_id="p-1", amount_cents=200)]
    assert shop.status("o1") == "credit_held"

    rest = shop.events(capture("o1", 100, "p-2"))
    assert rest == [
        PaymentCaptured(order_id="o1", payment_id="p-2", amount_cents=100),
        HoldConfirmed(sku="A", location="east", hold_id=1, quantity=3),
        OrderConfirmed(order_id="o1", total_cents=300),
    ]
    assert shop.status("o1") == "confirmed"
    assert "walk-in" not in shop.engine.accounts


def test_capture_on_a_confirmed_prepaid_order_is_invalid_state(shop: Shop) -> None:
    shop.submit(place("o1", terms="prepaid"), capture("o1", 100))

    event = rejection(shop.events(capture("o1", 100)))

    assert event.reason is CommandReason.INVALID_STATE
    assert shop.engine.orders["o1"].paid_cents == 100


def test_capture_on_a_net_terms_order_is_invalid_command(shop: Shop) -> None:
    shop.one(place("o1"))

    event = rejection(shop.events(capture("o1", 100)))

    assert event.reason is CommandReason.INVALID_COMMAND
    assert event.command == "CapturePayment"
    assert shop.engine.orders["o1"].paid_cents == 0


def test_prepaid_orders_never_touch_credit_exposure(shop: Shop) -> None:
    answers = shop.submit(
        place("o1", line("A", 2), terms="prepaid"),
        capture("o1", 200),
        ship("o1", "s1", "east", ("A", 2)),
        return_lines("o1", "r1", returned("A", 1, RESTOCK)),
    )

    assert [kinds(a) for a in answers[2:]] == [
        ["StockShipped", "LinesShipped"],
        ["StockRestocked", "LinesReturned"],
    ]
    account = shop.engine.accounts["cu"]
    assert (account.exposure_cents, account.approved, account.invoices) == (0, {}, {})


# ---------------------------------------------------------------- cancelling


def test_cancel_of_a_confirmed_order_releases_holds_and_credit(shop: Shop) -> None:
    shop.one(place("o1", line("A", 12)))

    events = shop.events(cancel("o1"))

    assert events == [
        HoldReleased(sku="A", location="east", hold_id=1, quantity=10, remaining=0, reserved=0),
        HoldReleased(sku="A", location="west", hold_id=2, quantity=2, remaining=0, reserved=0),
        CreditReleased(customer_id="cu", order_id="o1", amount_cents=1_200),
        OrderCancelled(order_id="o1", reason="changed mind"),
    ]
    assert shop.status("o1") == "cancelled"
    assert shop.exposure() == 0
    assert shop.engine.core.state().holds == ()
    assert shop.engine.orders["o1"].holds == {}


def test_cancel_of_a_review_approved_order_releases_its_credit(shop: Shop) -> None:
    shop.submit(place("o1", line("A", 1, 10_500)), review("o1", approve=True))

    events = shop.events(cancel("o1"))

    assert kinds_of(events) == ["HoldReleased", "CreditReleased", "OrderCancelled"]
    assert shop.exposure() == 0


def test_cancel_of_a_held_order_releases_its_holds_only(shop: Shop) -> None:
    shop.one(place("o1", line("A", 1, 10_500)))

    events = shop.events(cancel("o1"))

    assert kinds_of(events) == ["HoldReleased", "OrderCancelled"]
    assert shop.available("A", "east") == (10, 0)


def test_cancel_after_a_shipment_is_invalid_state(shop: Shop) -> None:
    shop.submit(place("o1", line("A", 2)), ship("o1", "s1", "east", ("A", 1)))

    event = rejection(shop.events(cancel("o1")))

    assert event.reason is CommandReason.INVALID_STATE
    assert event.detail == (
        "order o1 is partially_shipped; CancelOrder needs it "
        "reserved, held or confirmed, before any shipment"
    )
    assert shop.available("A", "east") == (9, 1)


def test_cancel_twice_is_invalid_state(shop: Shop) -> None:
    shop.submit(place("o1"), cancel("o1"))

    assert rejection(shop.events(cancel("o1"))).reason is CommandReason.INVALID_STATE


def test_cancel_of_an_unknown_order_is_rejected(shop: Shop) -> None:
    answer = shop.one(cancel("nope"))

    event = rejection(payloads(answer))
    assert (event.order_id, event.reason, event.detail) == (
        "nope",
        CommandReason.UNKNOWN_ORDER,
        "no order 'nope'",
    )
    assert "nope" not in shop.engine.orders


# ---------------------------------------------------------------- expiry


def test_clock_past_the_ttl_expires_unconfirmed_orders_only(shop: Shop) -> None:
    shop.submit(
        place("confirmed", line("A", 1)),
        place("held", line("A", 1, 10_500)),
        place("unpaid", line("A", 12), terms="prepaid"),
    )

    before = shop.events(advance(TTL_S - 1))
    assert before == [ClockAdvanced(now=TTL_S - 1)]

    events = shop.events(advance(TTL_S))

    assert events == [
        ClockAdvanced(now=TTL_S),
        HoldExpired(sku="A", location="east", hold_id=2, quantity=1, reserved=9),
        HoldExpired(sku="A", location="east", hold_id=3, quantity=8, reserved=1),
        HoldExpired(sku="A", location="west", hold_id=4, quantity=4, reserved=0),
        OrderExpired(order_id="held"),
        OrderExpired(order_id="unpaid"),
    ]
    assert [shop.status(o) for o in ("confirmed", "held", "unpaid")] == [
        "confirmed",
        "expired",
        "expired",
    ]
    assert shop.engine.core.state().holds == (HoldState(1, "A", "east", 1, TTL_S, True),)
    assert shop.available("A", "east") == (10, 1)
    assert shop.available("A", "west") == (5, 0)
    assert shop.engine.orders["held"].holds == {}
    assert shop.exposure() == 100


def test_expired_order_takes_no_payment_nor_review(shop: Shop) -> None:
    shop.submit(place("pp", terms="prepaid"), place("held", line("A", 1, 10_500)))
    shop.one(advance(TTL_S))

    assert rejection(shop.events(capture("pp", 100))).reason is CommandReason.INVALID_STATE
    assert rejection(shop.events(review("held", True))).reason is CommandReason.INVALID_STATE
    assert rejection(shop.events(cancel("held"))).reason is CommandReason.INVALID_STATE


@pytest.mark.parametrize("now", [0, 500])
def test_clock_never_moves_backwards(shop: Shop, now: int) -> None:
    shop.one(advance(500))

    answer = shop.one(advance(now))

    assert payloads(answer) == [
        OrderCommandRejected(
            order_id="",
            command_id=answer.command_id,
            command="AdvanceClock",
            reason=CommandReason.INVALID_COMMAND,
            detail="the clock is at 500; it only moves forward",
        )
    ]
    assert answer.events[0].stream_id == "clock"
    assert shop.engine.now == 500


# ---------------------------------------------------------------- shipping


def test_shipments_per_location_invoice_each_with_net_terms(shop: Shop) -> None:
    shop.submit(advance(100), place("o1", line("A", 12), line("B", 1)))

    first = shop.events(ship("o1", "s1", "east", ("A", 10), ("B", 1)))

    assert first == [
        StockShipped(
            sku="A", location="east", hold_id=1, quantity=10, remaining=0, on_hand=0, reserved=0
        ),
        StockShipped(
            sku="B", location="east", hold_id=3, quantity=1, remaining=0, on_hand=3, reserved=0
        ),
        LinesShipped(
            order_id="o1",
            shipment_id="s1",
            location="east",
            lines=(LineQuantity("A", 10), LineQuantity("B", 1)),
        ),
        InvoiceIssued(
            customer_id="cu",
            invoice_id="o1/s1",
            order_id="o1",
            amount_cents=1_250,
            due_at=100 + NET_30_S,
        ),
    ]
    assert shop.status("o1") == "partially_shipped"
    assert shop.exposure() == 1_450

    second = shop.events(ship("o1", "s2", "west", ("A", 2)))

    assert kinds_of(second) == ["StockShipped", "LinesShipped", "InvoiceIssued"]
    assert second[-1] == InvoiceIssued(
        customer_id="cu", invoice_id="o1/s2", order_id="o1", amount_cents=200, due_at=100 + NET_30_S
    )
    assert shop.status("o1") == "shipped"
    assert shop.engine.core.state().holds == ()
    account = shop.engine.accounts["cu"]
    assert (account.uninvoiced_cents, account.unpaid_cents) == (0, 1_450)


def test_a_shipment_may_draw_part_of_a_hold(shop: Shop) -> None:
    shop.one(place("o1", line("A", 5)))

    events = shop.events(ship("o1", "s1", "east", ("A", 2)))

    assert events[0] == StockShipped(
        sku="A", location="east", hold_id=1, quantity=2, remaining=3, on_hand=8, reserved=3
    )
    assert shop.engine.orders["o1"].holds == {1: OrderHold("A", "east", 1, 3)}


@pytest.mark.parametrize(
    ("location", "quantity", "detail"),
    [
        ("east", 4, "order o1 holds 3 of A at east and 10 are on hand; cannot ship 4"),
        ("west", 1, "order o1 holds 0 of A at west and 5 are on hand; cannot ship 1"),
    ],
)
def test_shipping_more_than_held_is_rejected(
    shop: Shop, location: str, quantity: int, detail: str
) -> None:
    shop.one(place("o1", line("A", 3)))
    written = shop.notifications

    event = rejection(shop.events(ship("o1", "s1", location, ("A", quantity))))

    assert (event.reason, event.detail) == (CommandReason.INVALID_COMMAND, detail)
    assert shop.notifications == written + 1
    assert shop.available("A", "east") == (10, 3)
    assert shop.status("o1") == "confirmed"


def test_shipping_an_unconfirmed_order_is_invalid_state(shop: Shop) -> None:
    shop.one(place("o1", line("A", 1, 10_500)))

    event = rejection(shop.events(ship("o1", "s1", "east", ("A", 1))))

    assert event.reason is CommandReason.INVALID_STATE


def test_shipping_a_sku_named_twice_counts_both_lines(shop: Shop) -> None:
    shop.one(place("o1", line("A", 3)))

    event = rejection(shop.events(ship("o1", "s1", "east", ("A", 3), ("A", 3))))

    assert event.reason is CommandReason.INVALID_COMMAND
    assert shop.available("A", "east") == (10, 3)


def test_a_shipment_id_is_used_once(shop: Shop) -> None:
    shop.submit(place("o1", line("A", 3)), ship("o1", "s1", "east", ("A", 1)))

    event = rejection(shop.events(ship("o1", "s1", "east", ("A", 1))))

    assert event.reason is CommandReason.INVALID_COMMAND
    shop.one(pay(100))
    account = shop.engine.accounts["cu"]
    assert (account.unpaid_cents, account.on_account_cents) == (0, 0)


def test_invoices_of_a_fully_shipped_order_add_up_to_its_total(shop: Shop) -> None:
    shop.one(place("o1", line("A", 1, 100), line("A", 1, 200)))

    events = shop.events(ship("o1", "s1", "east", ("A", 2)))

    assert isinstance(events[-1], InvoiceIssued)
    assert events[-1].amount_cents == 300
    shop.one(pay(300))
    assert shop.exposure() == 0


def test_shipping_backordered_units_not_on_hand_is_rejected(empty_shop: Shop) -> None:
    empty_shop.submit(
        configure("A", "east", backorder_limit=5), receive("A", "east", 2), set_limit()
    )
    empty_shop.one(place("o1", line("A", 4)))

    event = rejection(empty_shop.events(ship("o1", "s1", "east", ("A", 4))))

    assert event.command == "ShipLines"
    assert empty_shop.available("A", "east") == (2, 4)
    assert empty_shop.status("o1") == "confirmed"


def test_a_failed_batch_leaves_memory_as_the_store_has_it(shop: Shop) -> None:
    shop.one(place("o1", line("A", 3)))

    with contextlib.suppress(AssertionError):
        shop.submit(place("o2", line("B", 1)), ship("o1", "s1", "east", ("A", 3), ("A", 3)))

    try:
        shop.one(advance(1))
    except EngineBrokenError:
        return
    live = picture(shop)
    shop.reopen()
    assert picture(shop) == live


# ---------------------------------------------------------------- delivery


def test_order_is_delivered_once_every_shipment_is(shop: Shop) -> None:
    shop.submit(place("o1", line("A", 12)), ship("o1", "s1", "east", ("A", 10)))

    assert shop.events(deliver("o1", "s1")) == [OrderDelivered(order_id="o1", shipment_id="s1")]
    assert shop.status("o1") == "partially_shipped"

    shop.one(ship("o1", "s2", "west", ("A", 2)))
    assert shop.status("o1") == "shipped"
    assert kinds(shop.one(deliver("o1", "s2"))) == ["OrderDelivered"]
    assert shop.status("o1") == "delivered"


@pytest.mark.parametrize("shipment", ["s9", "s1"])
def test_delivering_an_unknown_or_delivered_shipment_is_rejected(shop: Shop, shipment: str) -> None:
    shop.submit(place("o1"), ship("o1", "s1", "east", ("A", 1)), deliver("o1", "s1"))

    event = rejection(shop.events(deliver("o1", shipment)))

    assert (event.reason, event.detail) == (
        CommandReason.INVALID_COMMAND,
        f"order o1 has no undelivered shipment {shipment!r}",
    )
    assert shop.status("o1") == "delivered"


def test_delivering_for_an_unknown_order_is_rejected(shop: Shop) -> None:
    assert rejection(shop.events(deliver("nope", "s1"))).reason is CommandReason.UNKNOWN_ORDER


# ---------------------------------------------------------------- returns


def shipped_order(shop: Shop) -> None:
    """o1: 4 A and 1 B shipped from east, invoiced 650 cents."""
    shop.submit(
        place("o1", line("A", 4), line("B", 1)), ship("o1", "s1", "east", ("A", 4), ("B", 1))
    )


def test_restocked_return_goes_back_on_hand_and_credits_the_customer(shop: Shop) -> None:
    shipped_order(shop)

    events = shop.events(return_lines("o1", "r1", returned("A", 3, RESTOCK, "west")))

    assert events == [
        StockRestocked(sku="A", location="west", quantity=3, reference="r1", on_hand=8),
        LinesReturned(order_id="o1", return_id="r1", lines=(ReturnedLine("A", 3, RESTOCK),)),
        CreditNoteIssued(customer_id="cu", order_id="o1", return_id="r1", amount_cents=300),
    ]
    assert shop.available("A", "west") == (8, 0)
    assert shop.exposure() == 350


def test_written_off_return_credits_without_restocking(shop: Shop) -> None:
    shipped_order(shop)

    events = shop.events(
        return_lines("o1", "r1", returned("B", 1, WRITE_OFF), returned("A", 1, RESTOCK))
    )

    assert events == [
        StockRestocked(sku="A", location="east", quantity=1, reference="r1", on_hand=7),
        LinesReturned(
            order_id="o1",
            return_id="r1",
            lines=(ReturnedLine("B", 1, WRITE_OFF), ReturnedLine("A", 1, RESTOCK)),
        ),
        CreditNoteIssued(customer_id="cu", order_id="o1", return_id="r1", amount_cents=350),
    ]
    assert shop.available("B", "east") == (3, 0)
    assert shop.exposure() == 300


def test_returning_more_than_shipped_is_rejected(shop: Shop) -> None:
    shipped_order(shop)
    shop.one(return_lines("o1", "r1", returned("A", 3, WRITE_OFF)))

    event = rejection(shop.events(return_lines("o1", "r2", returned("A", 2, RESTOCK))))

    assert (event.reason, event.detail) == (
        CommandReason.INVALID_COMMAND,
        "order o1 can return 1 of A, not 2",
    )
    assert shop.available("A", "east") == (6, 0)
    assert shop.exposure() == 350


def test_return_of_an_unshipped_order_is_rejected(shop: Shop) -> None:
    shop.one(place("o1"))

    assert rejection(shop.events(return_lines("o1", "r1", returned("A", 1, WRITE_OFF)))).detail == (
        "order o1 can return 0 of A, not 1"
    )


def test_restock_where_the_sku_is_not_stocked_is_rejected(shop: Shop) -> None:
    shipped_order(shop)

    event = rejection(shop.events(return_lines("o1", "r1", returned("B", 1, RESTOCK, "west"))))

    assert (event.reason, event.detail) == (
        CommandReason.INVALID_COMMAND,
        "B is not stocked at west; restock it where it is stocked",
    )
    assert shop.engine.orders["o1"].returned == {}


def test_a_sku_named_twice_cannot_return_more_than_shipped(shop: Shop) -> None:
    shipped_order(shop)

    event = rejection(
        shop.events(return_lines("o1", "r1", returned("A", 3, RESTOCK), returned("A", 3, RESTOCK)))
    )

    assert event.reason is CommandReason.INVALID_COMMAND
    assert shop.available("A", "east") == (6, 0)


# ---------------------------------------------------------------- payments


def test_payment_pays_the_oldest_invoice_first(shop: Shop) -> None:
    shop.submit(
        place("o1", line("A", 3)),
        place("o2", line("A", 2)),
        ship("o1", "s1", "east", ("A", 3)),
        ship("o2", "s1", "east", ("A", 2)),
    )

    assert shop.events(pay(350)) == [
        PaymentRecorded(customer_id="cu", payment_id="pm-1", amount_cents=350)
    ]

    account = shop.engine.accounts["cu"]
    assert {i: v.outstanding_cents for i, v in account.invoices.items()} == {"o2/s1": 150}
    assert shop.exposure() == 150


def test_payment_clears_an_overdue_invoice_and_credit_is_approved_again(shop: Shop) -> None:
    overdue_customer(shop)

    shop.one(pay(100))

    assert not shop.engine.accounts["cu"].overdue
    assert kinds(shop.one(place("o2")))[3] == "CreditApproved"


def test_partial_payment_leaves_the_invoice_overdue(shop: Shop) -> None:
    overdue_customer(shop)

    shop.one(pay(99))

    assert shop.engine.accounts["cu"].overdue
    assert kinds(shop.one(place("o2")))[3] == "CreditHeld"


def test_payment_from_an_unknown_customer_is_rejected(shop: Shop) -> None:
    answer = shop.one(pay(100, customer="ghost"))

    assert payloads(answer) == [
        CreditCommandRejected(
            customer_id="ghost",
            command_id=answer.command_id,
            command="RecordPayment",
            reason=CommandReason.UNKNOWN_CUSTOMER,
            detail="no credit account 'ghost': set a credit limit first",
        )
    ]
    assert answer.events[0].stream_id == "customer-ghost"


def test_invoice_is_flagged_overdue_once_when_the_clock_passes_its_due_time(shop: Shop) -> None:
    shop.submit(place("o1", line("A", 3)), ship("o1", "s1", "east", ("A", 3)), pay(50))

    assert shop.events(advance(NET_30_S)) == [ClockAdvanced(now=NET_30_S)]
    assert shop.events(advance(NET_30_S + 1)) == [
        ClockAdvanced(now=NET_30_S + 1),
        InvoiceOverdue(
            customer_id="cu", invoice_id="o1/s1", outstanding_cents=250, due_at=NET_30_S
        ),
    ]
    assert shop.events(advance(NET_30_S + 2)) == [ClockAdvanced(now=NET_30_S + 2)]
    assert shop.engine.accounts["cu"].overdue


def test_paid_invoice_is_never_flagged_overdue(shop: Shop) -> None:
    shop.submit(place("o1"), ship("o1", "s1", "east", ("A", 1)), pay(100))

    assert shop.events(advance(NET_30_S + 1)) == [ClockAdvanced(now=NET_30_S + 1)]


# ---------------------------------------------------------------- stock commands


def test_configure_receive_and_adjust_by_delta(empty_shop: Shop) -> None:
    answers = empty_shop.submit(
        configure("A", "east", 2, safety_stock=1, backorder_limit=3),
        receive("A", "east", 7, "po-9"),
        adjust("A", "east", delta=-2),
        adjust("A", "east", delta=4),
    )

    assert [payloads(a) for a in answers] == [
        [SlotConfigured(sku="A", location="east", priority=2, safety_stock=1, backorder_limit=3)],
        [StockReceived(sku="A", location="east", quantity=7, reference="po-9", on_hand=7)],
        [
            StockAdjusted(
                sku="A", location="east", delta=-2, reason="count", reference="cnt-1", on_hand=5
            )
        ],
        [
            StockAdjusted(
                sku="A", location="east", delta=4, reason="count", reference="cnt-1", on_hand=9
            )
        ],
    ]
    assert [e.stream_id for a in answers for e in a.events] == ["sku-A@east"] * 4


def test_set_on_hand_compares_and_swaps(shop: Shop) -> None:
    applied = shop.events(adjust("A", "east", set_to=6, expected=10))
    stale = shop.events(adjust("A", "east", set_to=2, expected=10))

    assert applied == [
        StockAdjusted(
            sku="A", location="east", delta=-4, reason="count", reference="cnt-1", on_hand=6
        )
    ]
    assert stale == [
        StockRejected(
            operation="set_on_hand",
            reason=Reason.STALE_EXPECTED_QUANTITY,
            detail="expected on_hand 10, found 6",
            reference="cnt-1",
            sku="A",
            location="east",
        )
    ]
    assert shop.available("A", "east") == (6, 0)


@pytest.mark.parametrize(
    "change",
    [{}, {"delta": 1, "set_to": 3, "expected": 10}, {"set_to": 3}, {"delta": 1, "expected": 10}],
    ids=["neither", "both", "set-without-expected", "delta-with-expected"],
)
def test_adjust_needs_exactly_one_form(shop: Shop, change: dict[str, int]) -> None:
    events = shop.events(adjust("A", "east", **change))

    assert events == [
        StockRejected(
            operation="adjust",
            reason=Reason.QUANTITY_OUT_OF_RANGE,
            detail="give either delta, or set_to with expected",
            reference="cnt-1",
            sku="A",
            location="east",
        )
    ]
    assert shop.available("A", "east") == (10, 0)


# ---------------------------------------------------------------- idempotency


def test_retry_across_batches_answers_the_same_and_writes_nothing(shop: Shop) -> None:
    command = place("o1", line("A", 3), cid="client-1")
    first = shop.one(command)
    written = shop.notifications
    state = shop.engine.core.state()

    again = shop.one(command)

    assert (first.retry, again.retry) == (False, True)
    assert again.command_id == "client-1"
    assert again.events == first.events
    assert shop.notifications == written
    assert shop.engine.core.state() == state
    assert shop.exposure() == 300


def test_retry_within_one_batch_is_answered_once(shop: Shop) -> None:
    command = place("o1", line("A", 3), cid="client-1")
    before = shop.notifications

    first, middle, again = shop.submit(command, advance(10), command)

    assert (first.retry, middle.retry, again.retry) == (False, False, True)
    assert again.events == first.events
    assert len(first.events) == 6
    assert shop.notifications == before + 7
    assert shop.available("A", "east") == (10, 3)


def test_retry_of_a_rejection_answers_the_rejection(shop: Shop) -> None:
    command = cancel("nope", cid="client-1")
    first = shop.one(command)
    written = shop.notifications

    again = shop.one(command)

    assert again.retry
    assert again.events == first.events
    assert shop.notifications == written


def test_retry_with_a_changed_body_gets_the_first_answer(shop: Shop) -> None:
    first = shop.one(place("o1", line("A", 3), cid="client-1"))

    again = shop.one(place("o2", line("A", 5), cid="client-1"))

    assert again.retry
    assert again.events == first.events
    assert "o2" not in shop.engine.orders


def test_retry_after_reopening_answers_the_same_and_writes_nothing(shop: Shop) -> None:
    command = place("o1", line("A", 3), cid="client-1")
    first = shop.one(command)
    written = shop.notifications

    shop.reopen()
    again = shop.one(command)

    assert again.retry
    assert again.events == first.events
    assert shop.notifications == written
    assert shop.available("A", "east") == (10, 3)


def test_same_order_id_under_a_new_command_id_is_a_duplicate(shop: Shop) -> None:
    shop.one(place("o1", cid="client-1"))

    answer = shop.one(place("o1", cid="client-2"))

    assert not answer.retry
    assert rejection(payloads(answer)).reason is CommandReason.DUPLICATE_ORDER


def test_same_order_id_twice_in_one_batch_is_a_duplicate(shop: Shop) -> None:
    first, second = shop.submit(place("o1"), place("o1", line("A", 9)))

    assert kinds(first)[-1] == "OrderConfirmed"
    assert rejection(payloads(second)).reason is CommandReason.DUPLICATE_ORDER
    assert shop.available("A", "east") == (10, 1)


# ---------------------------------------------------------------- restart

HISTORY: list[list[AnyCommand]] = [
    [advance(100)],
    [place("conf", line("A", 12), line("B", 1)), place("held", line("A", 1, 9_000))],
    [place("pp", line("B", 1), terms="prepaid", customer="walk-in"), capture("pp", 250)],
    [cancel("nope")],
    [ship("conf", "s1", "east", ("A", 10)), deliver("conf", "s1")],
    [place("exp", line("B", 1), terms="prepaid"), place("rej", line("A", 1, 20_000))],
    [advance(100 + TTL_S)],
    [return_lines("conf", "r1", returned("A", 2, RESTOCK)), pay(300)],
    [advance(200 + NET_30_S)],
    [place("late", line("A", 1)), review("late", approve=True), cancel("late")],
]


def picture(shop: Shop) -> dict[str, object]:
    """Everything the engine decides with, in comparable form."""
    engine = shop.engine
    return {
        "orders": {
            order_id: (
                o.status,
                o.holds,
                o.expires_at,
                o.held_reason,
                o.paid_cents,
                o.shipped,
                o.returned,
                o.delivered,
                o.shipments,
            )
            for order_id, o in engine.orders.items()
        },
        "accounts": {
            customer: (
                a.limit_cents,
                a.payment_terms,
                a.exposure_cents,
                a.uninvoiced_cents,
                a.unpaid_cents,
                a.on_account_cents,
                a.approved,
                {i: (v.outstanding_cents, v.due_at, v.overdue) for i, v in a.invoices.items()},
            )
            for customer, a in engine.accounts.items()
        },
        "core": engine.core.state(),
        "versions": dict(engine._stamper.versions),
        "now": engine.now,
        "hold_orders": dict(engine.hold_orders),
        "answered": dict(engine.answered),
    }


def play(
    shop: Shop, history: Sequence[Sequence[AnyCommand]], reopen: bool
) -> list[tuple[object, ...]]:
    written: list[tuple[object, ...]] = []
    for batch in history:
        if reopen:
            shop.reopen()
        for answer in shop.submit(*batch):
            written += [(e.stream_id, e.version, e.causation_id, e.data) for e in answer.events]
    return written


def test_history_exercises_every_ending(shop: Shop) -> None:
    play(shop, HISTORY, reopen=False)

    statuses = {order_id: shop.status(order_id) for order_id in shop.engine.orders}
    assert statuses == {
        "conf": "partially_shipped",
        "held": "expired",
        "pp": "confirmed",
        "exp": "expired",
        "rej": "rejected",
        "late": "cancelled",
    }
    assert shop.engine.accounts["cu"].overdue


def test_reopened_engine_has_the_live_engine_state(shop: Shop) -> None:
    play(shop, HISTORY, reopen=False)
    live = picture(shop)

    shop.reopen()

    assert picture(shop) == live


def test_reopening_between_batches_writes_the_same_events(shop: Shop, tmp_path: Path) -> None:
    other = stock_up(Shop(tmp_path / "other.db"))

    continuous = play(shop, HISTORY, reopen=False)
    restarted = play(other, HISTORY, reopen=True)

    assert restarted == continuous
    assert picture(other) == picture(shop)


def test_reopened_engine_continues_stream_versions(shop: Shop) -> None:
    play(shop, HISTORY, reopen=False)
    versions = dict(shop.engine._stamper.versions)
    shop.reopen()

    answer = shop.one(place("conf", line("A", 1)))
    shipped = shop.one(ship("conf", "s2", "west", ("A", 2)))

    assert [(e.stream_id, e.version) for e in answer.events] == [
        ("order-conf", versions["order-conf"] + 1)
    ]
    assert [(e.stream_id, e.version) for e in shipped.events] == [
        ("sku-A@west", versions["sku-A@west"] + 1),
        ("order-conf", versions["order-conf"] + 2),
        ("customer-cu", versions["customer-cu"] + 1),
    ]


def test_overdue_invoice_is_not_flagged_again_after_reopening(shop: Shop) -> None:
    overdue_customer(shop)
    shop.reopen()

    assert shop.events(advance(NET_30_S + 2)) == [ClockAdvanced(now=NET_30_S + 2)]


def test_holds_expire_after_reopening(shop: Shop) -> None:
    shop.one(place("held", line("A", 1, 10_500)))
    shop.reopen()

    assert kinds(shop.one(advance(TTL_S))) == ["ClockAdvanced", "HoldExpired", "OrderExpired"]
    assert shop.status("held") == "expired"


# ---------------------------------------------------------------- payment terms


@pytest.mark.parametrize("terms", ["net-x", "net-", "monthly"])
def test_credit_account_terms_must_be_prepaid_or_net_n(empty_shop: Shop, terms: str) -> None:
    body = (
        '{"type": "SetCreditLimit", "command_id": "lim", "customer_id": "cu", '
        f'"limit_cents": 1000, "payment_terms": "{terms}"}}'
    )
    try:
        command = json_decoder.decode(body)
    except msgspec.ValidationError:
        return
    answer = empty_shop.one(command)
    assert kinds(answer) == ["CreditCommandRejected"]
    assert not empty_shop.engine.accounts["cu"].opened
