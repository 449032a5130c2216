"""receive, restock, adjust and set_on_hand: on_hand moves, and when it may not."""

from __future__ import annotations

import pytest

from engine.stock.events import Reason, StockAdjusted, StockReceived, StockRestocked
from tests.engine.stock.conftest import MakeStock
from tests.engine.stock.support import Stock, on_hand_and_reserved, only, rejected


def test_receive_adds_to_on_hand_and_reports_the_level_after(stock: Stock) -> None:
    event = only(stock.receive([("A", "east", 4, "po-9")]))
    assert event == StockReceived(
        sku="A", location="east", quantity=4, reference="po-9", on_hand=14
    )
    assert on_hand_and_reserved(stock, "A", "east") == (14, 0)


def test_restock_adds_returned_goods(stock: Stock) -> None:
    event = only(stock.restock([("B", "east", 2, "rma-1")]))
    assert event == StockRestocked(
        sku="B", location="east", quantity=2, reference="rma-1", on_hand=5
    )
    assert on_hand_and_reserved(stock, "B", "east") == (5, 0)


@pytest.mark.parametrize("operation", ["receive", "restock"])
def test_unknown_sku_and_location_are_told_apart(stock: Stock, operation: str) -> None:
    add = getattr(stock, operation)
    unknown_sku = rejected(add([("Z", "east", 1, "r-1")]))
    assert (unknown_sku.reason, unknown_sku.sku, unknown_sku.reference) == (
        Reason.UNKNOWN_SKU,
        "Z",
        "r-1",
    )
    assert unknown_sku.operation == operation
    unknown_location = rejected(add([("B", "west", 1, "r-2")]))
    assert unknown_location.reason == Reason.UNKNOWN_LOCATION
    assert (unknown_location.sku, unknown_location.location) == ("B", "west")


@pytest.mark.parametrize(
    ("quantity", "accepted"), [(0, False), (-1, False), (1, True), (50, True), (51, False)]
)
def test_received_quantity_must_be_1_to_quantity_max(
    make_stock: MakeStock, quantity: int, accepted: bool
) -> None:
    stock = make_stock(quantity_max=50)
    stock.configure([("A", "east", 0, 0, 0)])
    event = only(stock.receive([("A", "east", quantity, "po")]))
    if accepted:
        assert isinstance(event, StockReceived)
        assert on_hand_and_reserved(stock, "A", "east") == (quantity, 0)
    else:
        assert rejected([event]).reason == Reason.QUANTITY_OUT_OF_RANGE
        assert on_hand_and_reserved(stock, "A", "east") == (0, 0)


def test_on_hand_may_reach_but_not_pass_quantity_max(make_stock: MakeStock) -> None:
    stock = make_stock(quantity_max=50)
    stock.configure([("A", "east", 0, 0, 0)])
    stock.receive([("A", "east", 30, "po")])
    event = rejected(stock.restock([("A", "east", 21, "rma")]))
    assert event.reason == Reason.LIMIT_EXCEEDED
    assert "on_hand would be 51" in event.detail
    assert isinstance(only(stock.restock([("A", "east", 20, "rma")])), StockRestocked)
    assert on_hand_and_reserved(stock, "A", "east") == (50, 0)


def test_adjust_moves_on_hand_by_delta_with_reason(stock: Stock) -> None:
    event = only(stock.adjust([("A", "east", -3, "damaged", "count-1")]))
    assert event == StockAdjusted(
        sku="A", location="east", delta=-3, reason="damaged", reference="count-1", on_hand=7
    )
    assert isinstance(only(stock.adjust([("A", "east", 2, "found", "count-2")])), StockAdjusted)
    assert on_hand_and_reserved(stock, "A", "east") == (9, 0)


@pytest.mark.parametrize("delta", [0, 1_000_000_001, -1_000_000_001])
def test_adjust_delta_must_be_nonzero_and_within_quantity_max(stock: Stock, delta: int) -> None:
    event = rejected(stock.adjust([("A", "east", delta, "oops", "ref")]))
    assert event.reason == Reason.QUANTITY_OUT_OF_RANGE
    assert on_hand_and_reserved(stock, "A", "east") == (10, 0)


def test_adjust_below_zero_is_rejected(stock: Stock) -> None:
    event = rejected(stock.adjust([("A", "east", -11, "lost", "ref")]))
    assert event.reason == Reason.INSUFFICIENT_STOCK
    assert "on_hand would be -1" in event.detail
    assert isinstance(only(stock.adjust([("A", "east", -10, "lost", "ref")])), StockAdjusted)
    assert on_hand_and_reserved(stock, "A", "east") == (0, 0)


def test_adjust_may_not_uncover_reservations(stock: Stock) -> None:
    stock.reserve([("o-1", [("A", 6)], 10)], now=0)
    assert rejected(stock.adjust([("A", "east", -5, "lost", "r")])).reason == (
        Reason.INSUFFICIENT_STOCK
    )
    assert isinstance(only(stock.adjust([("A", "east", -4, "lost", "r")])), StockAdjusted)
    assert on_hand_and_reserved(stock, "A", "east") == (6, 6)


def test_adjust_unknown_slot(stock: Stock) -> None:
    assert rejected(stock.adjust([("Z", "east", 1, "r", "x")])).reason == Reason.UNKNOWN_SKU
    assert rejected(stock.adjust([("A", "north", 1, "r", "x")])).reason == (Reason.UNKNOWN_LOCATION)


def test_set_on_hand_with_the_right_expectation_sets_the_count(stock: Stock) -> None:
    event = only(stock.set_on_hand([("A", "east", 4, 10, "stocktake", "c-1")]))
    assert event == StockAdjusted(
        sku="A", location="east", delta=-6, reason="stocktake", reference="c-1", on_hand=4
    )
    # A count that matches is recorded too, with delta 0.
    same = only(stock.set_on_hand([("A", "east", 4, 4, "stocktake", "c-2")]))
    assert isinstance(same, StockAdjusted)
    assert same.delta == 0


def test_set_on_hand_with_a_stale_expectation_changes_nothing(stock: Stock) -> None:
    event = rejected(stock.set_on_hand([("A", "east", 4, 9, "stocktake", "c-1")]))
    assert event.reason == Reason.STALE_EXPECTED_QUANTITY
    assert event.detail == "expected on_hand 9, found 10"
    assert event.operation == "set_on_hand"
    assert on_hand_and_reserved(stock, "A", "east") == (10, 0)


@pytest.mark.parametrize(
    ("quantity", "reason"), [(-1, Reason.QUANTITY_OUT_OF_RANGE), (2, Reason.INSUFFICIENT_STOCK)]
)
def test_set_on_hand_refusals(stock: Stock, quantity: int, reason: Reason) -> None:
    stock.reserve([("o-1", [("A", 3)], 10)], now=0)
    assert rejected(stock.set_on_hand([("A", "east", quantity, 10, "c", "r")])).reason == reason
    assert on_hand_and_reserved(stock, "A", "east") == (10, 3)


def test_set_on_hand_to_zero_is_allowed(stock: Stock) -> None:
    assert isinstance(only(stock.set_on_hand([("B", "east", 0, 3, "c", "r")])), StockAdjusted)
    assert on_hand_and_reserved(stock, "B", "east") == (0, 0)


@pytest.mark.parametrize("operation", ["receive", "restock", "adjust", "set_on_hand"])
def test_batch_size_max_applies_to_every_movement(make_stock: MakeStock, operation: str) -> None:
    stock = make_stock(batch_size_max=1)
    with pytest.raises(ValueError, match=f"{operation}: batch of 2 items exceeds batch_size_max 1"):
        getattr(stock, operation)([(), ()])
