"""configure: creating and updating slots, and every way it refuses."""

from __future__ import annotations

import pytest

from engine.stock.events import Reason, SlotConfigured
from tests.engine.stock.conftest import MakeStock
from tests.engine.stock.support import Stock, only, rejected


def test_configure_creates_an_empty_slot(make_stock: MakeStock) -> None:
    stock = make_stock()
    event = only(stock.configure([("A", "east", 3, 2, 1)]))
    assert event == SlotConfigured(
        sku="A", location="east", priority=3, safety_stock=2, backorder_limit=1
    )
    slot = stock.slot("A", "east")
    assert slot is not None
    assert (slot.priority, slot.safety_stock, slot.backorder_limit) == (3, 2, 1)
    assert (slot.on_hand, slot.reserved) == (0, 0)


def test_configure_again_updates_settings_and_keeps_stock(stock: Stock) -> None:
    only(stock.configure([("A", "east", 7, 4, 2)]))
    slot = stock.slot("A", "east")
    assert slot is not None
    assert (slot.priority, slot.safety_stock, slot.backorder_limit, slot.on_hand) == (7, 4, 2, 10)
    assert len(stock.state().slots) == 3


def test_a_new_priority_changes_which_location_allocates_first(stock: Stock) -> None:
    stock.configure([("A", "west", 0, 0, 0), ("A", "east", 5, 0, 0)])
    events = stock.reserve([("o-1", [("A", 1)], 10)], now=0)
    assert [(e.location, e.quantity) for e in events] == [("west", 1)]  # type: ignore[union-attr]


def test_equal_priorities_allocate_in_location_order(make_stock: MakeStock) -> None:
    stock = make_stock()
    stock.configure([("A", "zeta", 0, 0, 0), ("A", "alpha", 0, 0, 0)])
    stock.receive([("A", "zeta", 1, "r"), ("A", "alpha", 1, "r")])
    events = stock.reserve([("o-1", [("A", 2)], 10)], now=0)
    assert [e.location for e in events] == ["alpha", "zeta"]


@pytest.mark.parametrize(
    ("sku", "location", "accepted"),
    [
        ("", "east", False),
        ("A", "", False),
        ("A" * 8, "east", True),
        ("A" * 9, "east", False),
        ("é" * 4, "east", True),
        ("é" * 4 + "x", "east", False),
    ],
)
def test_keys_must_be_1_to_key_bytes_max_bytes_of_utf8(
    make_stock: MakeStock, sku: str, location: str, accepted: bool
) -> None:
    stock = make_stock(key_bytes_max=8)
    event = only(stock.configure([(sku, location, 0, 0, 0)]))
    if accepted:
        assert isinstance(event, SlotConfigured)
        assert stock.slot(sku, location) is not None
    else:
        assert rejected([event]).reason == Reason.LIMIT_EXCEEDED
        assert "key_bytes_max" in rejected([event]).detail
        assert stock.state().slots == ()


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (("A", "east", -1, 0, 0), "priority"),
        (("A", "east", 101, 0, 0), "priority"),
        (("A", "east", 0, -1, 0), "safety_stock"),
        (("A", "east", 0, 51, 0), "safety_stock"),
        (("A", "east", 0, 0, -1), "backorder_limit"),
        (("A", "east", 0, 0, 51), "backorder_limit"),
    ],
)
def test_settings_out_of_range_are_rejected(
    make_stock: MakeStock, item: tuple[str, str, int, int, int], field: str
) -> None:
    stock = make_stock(priority_max=100, quantity_max=50)
    event = rejected(stock.configure([item]))
    assert event.reason == Reason.QUANTITY_OUT_OF_RANGE
    assert event.detail.startswith(f"{field} ")
    assert (event.sku, event.location) == ("A", "east")
    assert stock.state().slots == ()


def test_settings_at_their_maximum_are_accepted(make_stock: MakeStock) -> None:
    stock = make_stock(priority_max=100, quantity_max=50)
    assert isinstance(only(stock.configure([("A", "east", 100, 50, 50)])), SlotConfigured)


def test_sku_slots_max_is_enforced_at_its_edge(make_stock: MakeStock) -> None:
    stock = make_stock(sku_slots_max=2)
    events = stock.configure([("A", "east", 0, 0, 0), ("B", "east", 0, 0, 0)])
    assert all(isinstance(e, SlotConfigured) for e in events)
    event = rejected(stock.configure([("C", "east", 0, 0, 0)]))
    assert event.reason == Reason.LIMIT_EXCEEDED
    assert "sku_slots_max 2" in event.detail
    # Updating an existing slot at the limit is still allowed.
    assert isinstance(only(stock.configure([("A", "east", 1, 0, 0)])), SlotConfigured)
    assert len(stock.state().slots) == 2


def test_locations_per_sku_max_is_enforced_at_its_edge(make_stock: MakeStock) -> None:
    stock = make_stock(locations_per_sku_max=2)
    stock.configure([("A", "east", 0, 0, 0), ("A", "west", 0, 0, 0)])
    event = rejected(stock.configure([("A", "north", 0, 0, 0)]))
    assert event.reason == Reason.LIMIT_EXCEEDED
    assert "locations_per_sku_max 2" in event.detail
    assert isinstance(only(stock.configure([("B", "north", 0, 0, 0)])), SlotConfigured)


def test_settings_that_would_uncover_reservations_are_rejected(stock: Stock) -> None:
    stock.reserve([("o-1", [("A", 8)], 10)], now=0)
    event = rejected(stock.configure([("A", "east", 0, 3, 0)]))
    assert event.reason == Reason.INSUFFICIENT_STOCK
    assert "reserved 8" in event.detail
    # Exactly covering the reservation is fine: 10 - 2 == 8.
    assert isinstance(only(stock.configure([("A", "east", 0, 2, 0)])), SlotConfigured)


def test_backorder_limit_cannot_drop_below_what_it_covers(make_stock: MakeStock) -> None:
    stock = make_stock()
    stock.configure([("A", "east", 0, 0, 5)])
    stock.reserve([("o-1", [("A", 4)], 10)], now=0)
    assert rejected(stock.configure([("A", "east", 0, 0, 3)])).reason == Reason.INSUFFICIENT_STOCK
    assert isinstance(only(stock.configure([("A", "east", 0, 0, 4)])), SlotConfigured)


def test_a_batch_over_batch_size_max_raises_and_applies_nothing(make_stock: MakeStock) -> None:
    stock = make_stock(batch_size_max=2)
    items = [("A", "east", 0, 0, 0), ("B", "east", 0, 0, 0), ("C", "east", 0, 0, 0)]
    with pytest.raises(ValueError, match="configure: batch of 3 items exceeds batch_size_max 2"):
        stock.configure(items)
    assert stock.state().slots == ()
    assert len(stock.configure(items[:2])) == 2


def test_a_malformed_item_raises_and_applies_nothing(make_stock: MakeStock) -> None:
    stock = make_stock()
    with pytest.raises(TypeError, match="item 1"):
        stock.configure([("A", "east", 0, 0, 0), ("B", "east", "0", 0, 0)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="does not fit 64 bits"):
        stock.configure([("A", "east", 2**63, 0, 0)])
    assert stock.state().slots == ()
