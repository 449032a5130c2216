"""confirm, release, ship and expire: a hold's life, which ends exactly once."""

from __future__ import annotations

import pytest

from engine.stock.events import (
    HoldConfirmed,
    HoldExpired,
    HoldReleased,
    Reason,
    StockShipped,
)
from tests.engine.stock.conftest import MakeStock
from tests.engine.stock.support import Stock, on_hand_and_reserved, only, rejected


@pytest.fixture
def held(stock: Stock) -> Stock:
    """Hold 1: 4 of A at east, expiring at 10; hold 2: 2 of B at east, expiring at 20."""
    stock.reserve([("o-1", [("A", 4)], 10), ("o-2", [("B", 2)], 20)], now=0)
    return stock


def test_confirm_reports_the_held_quantity(held: Stock) -> None:
    assert only(held.confirm([1])) == HoldConfirmed(sku="A", location="east", hold_id=1, quantity=4)
    assert held.state().holds[0].confirmed


def test_confirming_twice_is_a_duplicate(held: Stock) -> None:
    held.confirm([1])
    again = rejected(held.confirm([1]))
    assert (again.reason, again.hold_id, again.sku) == (Reason.DUPLICATE, 1, "A")


@pytest.mark.parametrize("operation", ["confirm", "release", "ship"])
@pytest.mark.parametrize("hold_id", [0, -1, 3, 2**40])
def test_hold_ids_never_issued_are_unknown(held: Stock, operation: str, hold_id: int) -> None:
    item: object = hold_id if operation == "confirm" else (hold_id, 1)
    refused = rejected(getattr(held, operation)([item]))
    assert (refused.reason, refused.hold_id, refused.operation) == (
        Reason.UNKNOWN_HOLD,
        hold_id,
        operation,
    )


@pytest.mark.parametrize("operation", ["confirm", "release", "ship"])
def test_ended_holds_are_told_apart_from_unknown_ones(held: Stock, operation: str) -> None:
    held.release([(1, None)])
    item: object = 1 if operation == "confirm" else (1, 1)
    assert rejected(getattr(held, operation)([item])).reason == Reason.HOLD_ENDED


def test_release_all_ends_the_hold(held: Stock) -> None:
    assert only(held.release([(1, None)])) == HoldReleased(
        sku="A", location="east", hold_id=1, quantity=4, remaining=0, reserved=0
    )
    assert [h.hold_id for h in held.state().holds] == [2]
    assert on_hand_and_reserved(held, "A", "east") == (10, 0)


def test_partial_release_keeps_the_rest_held(held: Stock) -> None:
    assert only(held.release([(1, 3)])) == HoldReleased(
        sku="A", location="east", hold_id=1, quantity=3, remaining=1, reserved=1
    )
    assert held.state().holds[0].quantity == 1
    assert isinstance(only(held.release([(1, 1)])), HoldReleased)
    assert rejected(held.release([(1, 1)])).reason == Reason.HOLD_ENDED


@pytest.mark.parametrize("quantity", [0, -1, 5])
def test_release_quantity_must_be_1_to_what_remains(held: Stock, quantity: int) -> None:
    refused = rejected(held.release([(1, quantity)]))
    assert (refused.reason, refused.detail) == (
        Reason.QUANTITY_OUT_OF_RANGE,
        f"quantity {quantity} outside 1..4",
    )
    assert on_hand_and_reserved(held, "A", "east") == (10, 4)


def test_a_confirmed_hold_can_be_released(held: Stock) -> None:
    held.confirm([1])
    assert isinstance(only(held.release([(1, None)])), HoldReleased)


def test_only_confirmed_holds_ship(held: Stock) -> None:
    refused = rejected(held.ship([(1, 1)]))
    assert (refused.reason, refused.hold_id) == (Reason.HOLD_NOT_CONFIRMED, 1)
    assert on_hand_and_reserved(held, "A", "east") == (10, 4)


def test_shipping_reduces_on_hand_and_reserved_until_the_hold_ends(held: Stock) -> None:
    held.confirm([1])
    assert only(held.ship([(1, 3)])) == StockShipped(
        sku="A", location="east", hold_id=1, quantity=3, remaining=1, on_hand=7, reserved=1
    )
    last = only(held.ship([(1, 1)]))
    assert isinstance(last, StockShipped)
    assert (last.remaining, last.on_hand, last.reserved) == (0, 6, 0)
    assert rejected(held.ship([(1, 1)])).reason == Reason.HOLD_ENDED
    assert [h.hold_id for h in held.state().holds] == [2]


@pytest.mark.parametrize("quantity", [0, 5])
def test_ship_quantity_must_be_1_to_what_remains(held: Stock, quantity: int) -> None:
    held.confirm([1])
    assert rejected(held.ship([(1, quantity)])).reason == Reason.QUANTITY_OUT_OF_RANGE


def test_a_backordered_hold_ships_only_what_is_on_hand(make_stock: MakeStock) -> None:
    stock = make_stock()
    stock.configure([("A", "east", 0, 0, 5)])
    stock.receive([("A", "east", 1, "po")])
    stock.reserve([("o-1", [("A", 3)], 10)], now=0)
    stock.confirm([1])
    refused = rejected(stock.ship([(1, 2)]))
    assert (refused.reason, refused.hold_id) == (Reason.INSUFFICIENT_STOCK, 1)
    assert isinstance(only(stock.ship([(1, 1)])), StockShipped)
    assert on_hand_and_reserved(stock, "A", "east") == (0, 2)


def test_expire_ends_due_unconfirmed_holds_in_deadline_order(stock: Stock) -> None:
    stock.reserve(
        [("o-1", [("B", 1)], 20), ("o-2", [("A", 1)], 10), ("o-3", [("B", 1)], 10)], now=0
    )
    assert stock.expire(9) == []
    assert stock.expire(20) == [
        HoldExpired(sku="A", location="east", hold_id=2, quantity=1, reserved=0),
        HoldExpired(sku="B", location="east", hold_id=3, quantity=1, reserved=1),
        HoldExpired(sku="B", location="east", hold_id=1, quantity=1, reserved=0),
    ]
    assert stock.state().holds == ()
    assert stock.expire(20) == []
    assert rejected(stock.confirm([2])).reason == Reason.HOLD_ENDED


def test_expire_takes_holds_due_exactly_now_but_not_later(held: Stock) -> None:
    assert [e.hold_id for e in held.expire(10)] == [1]  # type: ignore[union-attr]
    assert [h.hold_id for h in held.state().holds] == [2]


def test_confirmed_holds_never_expire(held: Stock) -> None:
    held.confirm([1])
    assert [e.hold_id for e in held.expire(1000)] == [2]  # type: ignore[union-attr]
    assert [h.hold_id for h in held.state().holds] == [1]


def test_expire_ends_at_most_batch_size_max_holds_per_call(make_stock: MakeStock) -> None:
    stock = make_stock(batch_size_max=2)
    stock.configure([("A", "east", 0, 0, 0)])
    stock.receive([("A", "east", 9, "po")])
    for order in range(3):
        stock.reserve([(f"o-{order}", [("A", 1)], 10 - order)], now=0)
    assert [e.hold_id for e in stock.expire(10)] == [3, 2]  # type: ignore[union-attr]
    assert [e.hold_id for e in stock.expire(10)] == [1]  # type: ignore[union-attr]


def test_expire_needs_a_clock_value(held: Stock) -> None:
    with pytest.raises(ValueError, match="expire: now -1 outside"):
        held.expire(-1)


@pytest.mark.parametrize("operation", ["confirm", "release", "ship"])
def test_hold_batches_over_batch_size_max_raise(make_stock: MakeStock, operation: str) -> None:
    stock = make_stock(batch_size_max=1)
    item: object = 1 if operation == "confirm" else (1, 1)
    with pytest.raises(ValueError, match=f"{operation}: batch of 2 items exceeds batch_size_max 1"):
        getattr(stock, operation)([item, item])
