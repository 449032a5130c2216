"""The compact reserve path: same answers as the plain one, and its layout rules."""

from __future__ import annotations

from array import array

import pytest

from engine.stock.commands import Order
from engine.stock.compact import CompactOrders
from engine.stock.events import StockReserved
from tests.engine.stock.conftest import MakeStock
from tests.engine.stock.support import Stock

ORDERS: list[Order] = [
    ("o-1", [("A", 12)], 30),  # splits east + west
    ("o-2", [("B", 1), ("Z", 1)], 30),  # unknown SKU
    ("o-3", [("B", 2), ("A", 9)], 30),  # insufficient on line 1: rolled back
    ("o-4", [("Y", 1)], 30),  # another unknown SKU
    ("o-5", [], 30),  # no lines
    ("o-6", [("B", 3)], 0),  # ttl out of range
    ("o-7", [("B", 3)], 30),
]


def compact(stock: Stock, orders: list[Order]) -> CompactOrders:
    return CompactOrders.from_orders(orders, stock.sku_index)


def reserve_compact(stock: Stock, orders: CompactOrders, now: int = 0) -> list[object]:
    log = stock.reserve_compact(
        orders.order_ids,
        orders.line_starts,
        orders.line_skus,
        orders.line_quantities,
        orders.ttls,
        now,
        orders.unknown_skus,
    )
    return list(log.events())


def test_sku_index_numbers_skus_in_order_of_first_configure(stock: Stock) -> None:
    assert (stock.sku_index("A"), stock.sku_index("B"), stock.sku_index("Z")) == (0, 1, -1)


def test_unknown_skus_get_negative_indices_into_their_own_list(stock: Stock) -> None:
    orders = compact(stock, ORDERS)
    assert orders.unknown_skus == ["Z", "Y"]
    assert list(orders.line_skus) == [0, 1, -1, 1, 0, -2, 1, 1]
    assert list(orders.line_starts) == [0, 1, 3, 5, 6, 6, 7, 8]


def test_compact_and_plain_reserve_give_the_same_events_and_state(make_stock: MakeStock) -> None:
    plain, packed = make_stock(), make_stock()
    for stock in (plain, packed):
        stock.configure([("A", "east", 0, 0, 0), ("A", "west", 1, 0, 0), ("B", "east", 0, 0, 0)])
        stock.receive([("A", "east", 10, "po"), ("A", "west", 5, "po"), ("B", "east", 3, "po")])
    expected = plain.reserve(ORDERS, now=0)
    assert reserve_compact(packed, compact(packed, ORDERS)) == expected
    assert packed.state() == plain.state()
    assert [type(e).__name__ for e in expected].count("StockRejected") == 5


def test_the_log_counts_what_it_holds(stock: Stock) -> None:
    orders = compact(stock, ORDERS)
    log = stock.reserve_compact(
        orders.order_ids,
        orders.line_starts,
        orders.line_skus,
        orders.line_quantities,
        orders.ttls,
        0,
        orders.unknown_skus,
    )
    events = log.events()
    assert len(log) == len(events) == 8
    assert log.reserved_count == 3 == sum(isinstance(e, StockReserved) for e in events)
    assert log.rejected_count == 5
    assert log.reserved_quantity == 15


def _layout(
    starts: list[int], skus: list[int], quantities: list[int], ttls: list[int]
) -> tuple[list[str], array[int], array[int], array[int], array[int]]:
    ids = [f"o-{i}" for i in range(len(ttls))]
    return ids, array("q", starts), array("i", skus), array("q", quantities), array("q", ttls)


@pytest.mark.parametrize(
    ("layout", "rule"),
    [
        (_layout([0, 1], [0], [1], [30, 30]), "ttls needs one entry per order"),
        (_layout([0, 1, 1], [0], [1], [30]), "ttls needs one entry per order"),
        (_layout([0, 2], [0], [1], [30]), "line_starts must end at the number of lines"),
        (_layout([0, 1], [0], [1, 1], [30]), "line_starts must end at the number of lines"),
        (_layout([1, 1, 1], [0], [1], [30, 30]), "line_starts must start at 0"),
        (_layout([0, 2, 1, 2], [0, 0], [1, 1], [30, 30, 30]), "never decrease"),
        (_layout([0, 1], [2], [1], [30]), "a line_skus entry names no SKU"),
        (_layout([0, 1], [-1], [1], [30]), "a line_skus entry names no SKU"),
    ],
)
def test_a_malformed_layout_raises_and_changes_nothing(
    stock: Stock,
    layout: tuple[list[str], array[int], array[int], array[int], array[int]],
    rule: str,
) -> None:
    before = stock.state()
    with pytest.raises(ValueError, match=rule):
        stock.reserve_compact(*layout, now=0)
    assert stock.state() == before


def test_the_compact_batch_obeys_batch_size_max_and_the_clock(make_stock: MakeStock) -> None:
    stock = make_stock(batch_size_max=1)
    stock.configure([("A", "east", 0, 0, 0)])
    with pytest.raises(ValueError, match="batch_size_max 1"):
        stock.reserve_compact(*_layout([0, 1, 2], [0, 0], [1, 1], [30, 30]), now=0)
    with pytest.raises(ValueError, match="clock_max"):
        stock.reserve_compact(*_layout([0, 1], [0], [1], [30]), now=-1)
