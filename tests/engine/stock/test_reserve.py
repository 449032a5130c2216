"""reserve: allocation by priority, splits, all-or-nothing, and every refusal."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from engine.stock.events import Reason, StockReserved
from tests.engine.stock.conftest import MakeStock
from tests.engine.stock.support import Stock, on_hand_and_reserved, rejected


def holds(events: Sequence[object]) -> list[tuple[int, str, int]]:
    """(hold id, location, quantity) of each StockReserved."""
    return [(e.hold_id, e.location, e.quantity) for e in events if isinstance(e, StockReserved)]


def test_a_reservation_issues_a_hold_with_the_level_after(stock: Stock) -> None:
    events = stock.reserve([("o-1", [("B", 2)], 30)], now=100)
    assert events == [
        StockReserved(
            sku="B",
            location="east",
            hold_id=1,
            order_id="o-1",
            quantity=2,
            expires_at=130,
            reserved=2,
        )
    ]
    assert on_hand_and_reserved(stock, "B", "east") == (3, 2)


def test_a_line_splits_across_locations_in_priority_order(stock: Stock) -> None:
    events = stock.reserve([("o-1", [("A", 13)], 30)], now=0)
    assert holds(events) == [(1, "east", 10), (2, "west", 3)]
    assert [e.reserved for e in events] == [10, 3]  # type: ignore[union-attr]
    assert on_hand_and_reserved(stock, "A", "east") == (10, 10)
    assert on_hand_and_reserved(stock, "A", "west") == (5, 3)


def test_safety_stock_is_not_reserved(make_stock: MakeStock) -> None:
    stock = make_stock()
    stock.configure([("A", "east", 0, 4, 0)])
    stock.receive([("A", "east", 10, "po")])
    refused = rejected(stock.reserve([("o-1", [("A", 7)], 30)], now=0))
    assert (refused.reason, refused.detail) == (
        Reason.INSUFFICIENT_STOCK,
        "lines[0]: 7 requested, 6 available",
    )
    assert holds(stock.reserve([("o-2", [("A", 6)], 30)], now=0)) == [(1, "east", 6)]


def test_backorder_limit_lets_reserved_pass_on_hand(make_stock: MakeStock) -> None:
    stock = make_stock()
    stock.configure([("A", "east", 0, 0, 3)])
    stock.receive([("A", "east", 2, "po")])
    assert rejected(stock.reserve([("o-1", [("A", 6)], 30)], now=0)).detail == (
        "lines[0]: 6 requested, 5 available"
    )
    assert holds(stock.reserve([("o-2", [("A", 5)], 30)], now=0)) == [(1, "east", 5)]
    assert on_hand_and_reserved(stock, "A", "east") == (2, 5)


def test_a_slot_with_safety_above_on_hand_offers_nothing(make_stock: MakeStock) -> None:
    stock = make_stock()
    stock.configure([("A", "east", 0, 5, 0), ("A", "west", 1, 0, 0)])
    stock.receive([("A", "east", 2, "po"), ("A", "west", 1, "po")])
    assert holds(stock.reserve([("o-1", [("A", 1)], 30)], now=0)) == [(1, "west", 1)]


def test_an_order_is_all_or_nothing(stock: Stock) -> None:
    before = stock.state()
    refused = rejected(stock.reserve([("o-1", [("A", 12), ("B", 4)], 30)], now=0))
    assert refused.reason == Reason.INSUFFICIENT_STOCK
    assert (refused.reference, refused.sku, refused.detail) == (
        "o-1",
        "B",
        "lines[1]: 4 requested, 3 available",
    )
    assert stock.state() == before
    # The refused order issued no hold ids: the next order starts at 1.
    assert holds(stock.reserve([("o-2", [("B", 1)], 30)], now=0)) == [(1, "east", 1)]


def test_lines_of_one_order_see_each_others_holds(stock: Stock) -> None:
    events = stock.reserve([("o-1", [("B", 2), ("B", 1)], 30)], now=0)
    assert holds(events) == [(1, "east", 2), (2, "east", 1)]
    refused = rejected(stock.reserve([("o-2", [("B", 1)], 30)], now=0))
    assert refused.detail == "lines[0]: 1 requested, 0 available"


def test_refused_orders_in_a_batch_leave_hold_ids_contiguous(stock: Stock) -> None:
    events = stock.reserve(
        [("o-1", [("B", 1)], 30), ("o-2", [("B", 9)], 30), ("o-3", [("B", 1)], 30)], now=0
    )
    assert [type(e).__name__ for e in events] == ["StockReserved", "StockRejected", "StockReserved"]
    assert [e.hold_id for e in events] == [1, 0, 2]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("order", "reason", "detail"),
    [
        (("o", [], 30), Reason.QUANTITY_OUT_OF_RANGE, "order has 0 lines; it needs 1..2"),
        (
            ("o", [("B", 1)] * 3, 30),
            Reason.LIMIT_EXCEEDED,
            "order has 3 lines; lines_per_order_max is 2",
        ),
        (("o", [("B", 1)], 0), Reason.QUANTITY_OUT_OF_RANGE, "ttl 0 outside 1..100"),
        (("o", [("B", 1)], 101), Reason.QUANTITY_OUT_OF_RANGE, "ttl 101 outside 1..100"),
        (
            ("o", [("B", 1), ("Z", 1)], 30),
            Reason.UNKNOWN_SKU,
            "lines[1]: sku is not configured at any location",
        ),
        (("o", [("B", 0)], 30), Reason.QUANTITY_OUT_OF_RANGE, "lines[0]: quantity 0 outside 1..50"),
        (
            ("o", [("B", 51)], 30),
            Reason.QUANTITY_OUT_OF_RANGE,
            "lines[0]: quantity 51 outside 1..50",
        ),
    ],
)
def test_order_refusals_name_the_first_fault(
    make_stock: MakeStock,
    order: tuple[str, list[tuple[str, int]], int],
    reason: Reason,
    detail: str,
) -> None:
    stock = make_stock(lines_per_order_max=2, ttl_max=100, quantity_max=50)
    stock.configure([("B", "east", 0, 0, 0)])
    stock.receive([("B", "east", 50, "po")])
    refused = rejected(stock.reserve([order], now=0))
    assert (refused.operation, refused.reason, refused.detail, refused.reference) == (
        "reserve",
        reason,
        detail,
        "o",
    )
    assert on_hand_and_reserved(stock, "B", "east") == (50, 0)


def test_limits_on_an_order_accept_their_edge(make_stock: MakeStock) -> None:
    stock = make_stock(lines_per_order_max=2, ttl_max=100, quantity_max=50)
    stock.configure([("B", "east", 0, 0, 0)])
    stock.receive([("B", "east", 50, "po")])
    events = stock.reserve([("o", [("B", 49), ("B", 1)], 100)], now=0)
    assert holds(events) == [(1, "east", 49), (2, "east", 1)]


def test_static_faults_come_before_allocation_faults(stock: Stock) -> None:
    """Line 0 could not be allocated, but line 1 names an unknown SKU: that is reported."""
    refused = rejected(stock.reserve([("o", [("B", 9), ("Z", 1)], 30)], now=0))
    assert (refused.reason, refused.sku) == (Reason.UNKNOWN_SKU, "Z")


def test_open_holds_max_is_enforced_at_its_edge(make_stock: MakeStock) -> None:
    stock = make_stock(open_holds_max=3)
    stock.configure([("A", "east", 0, 0, 0), ("A", "west", 1, 0, 0)])
    stock.receive([("A", "east", 2, "po"), ("A", "west", 9, "po")])
    assert len(holds(stock.reserve([("o-1", [("A", 3)], 30)], now=0))) == 2
    # A split that would need two more holds when one is left is refused whole.
    refused = rejected(stock.reserve([("o-2", [("A", 1), ("A", 1)], 30)], now=0))
    assert (refused.reason, refused.detail) == (
        Reason.LIMIT_EXCEEDED,
        "lines[1]: open_holds_max 3 reached",
    )
    assert on_hand_and_reserved(stock, "A", "west") == (9, 1)
    assert holds(stock.reserve([("o-3", [("A", 1)], 30)], now=0)) == [(3, "west", 1)]


def test_a_batch_over_batch_size_max_raises(make_stock: MakeStock) -> None:
    stock = make_stock(batch_size_max=1)
    with pytest.raises(ValueError, match="reserve: batch of 2 items exceeds batch_size_max 1"):
        stock.reserve([("o-1", [], 1), ("o-2", [], 1)], now=0)


@pytest.mark.parametrize("now", [-1, 2**62 + 1])
def test_now_must_be_on_the_logical_clock(stock: Stock, now: int) -> None:
    with pytest.raises(ValueError, match="clock_max"):
        stock.reserve([("o-1", [("B", 1)], 30)], now=now)
    assert on_hand_and_reserved(stock, "B", "east") == (3, 0)


class _Sku(str):
    """A str subclass: well formed, though not the exact type the fast path packs."""


@pytest.mark.parametrize(
    ("orders", "error"),
    [
        ([("o", [["B", 1]], 30)], TypeError),
        ([("o", [("B", True)], 30)], TypeError),
        ([("o", [("B", 1)], 2**63)], ValueError),
        ([("o", [("B", -(2**63) - 1)], 30)], ValueError),
        ([("o", "B", 30)], TypeError),
        ([["o", [("B", 1)], 30]], TypeError),
        ([(1, [("B", 1)], 30)], TypeError),
    ],
)
def test_malformed_orders_raise_and_reserve_nothing(
    stock: Stock, orders: list[object], error: type[Exception]
) -> None:
    with pytest.raises(error, match="reserve: "):
        stock.reserve(orders, now=0)  # type: ignore[arg-type]
    assert on_hand_and_reserved(stock, "B", "east") == (3, 0)


def test_well_formed_orders_of_unusual_types_are_served(stock: Stock) -> None:
    events = stock.reserve(((_Sku("o-1"), ((_Sku("B"), 1),), 30),), now=0)
    assert holds(events) == [(1, "east", 1)]
    assert events[0].order_id == "o-1"  # type: ignore[union-attr]
