"""The compact form of a reserve batch: orders as flat integer buffers.

Lines of order `i` are `line_starts[i]:line_starts[i + 1]` of `line_skus` and
`line_quantities` (CSR layout). A SKU is its index from `sku_index`; a
negative index `-(k + 1)` names `unknown_skus[k]`, a SKU the caller could not
resolve, which the order's rejection then quotes.

This module holds the layout checks (malformed buffers raise `ValueError`
before anything applies) and the builder that turns plain orders into buffers.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Protocol

from engine.stock.commands import Order
from engine.stock.events import StockEvent
from engine.stock.limits import StockLimits, check_batch_size, check_clock


class ReserveLog(Protocol):
    """What a compact reserve returns: counts now, event structs on request."""

    @property
    def reserved_count(self) -> int: ...

    @property
    def rejected_count(self) -> int: ...

    @property
    def reserved_quantity(self) -> int: ...

    def events(self) -> list[StockEvent]: ...

    def __len__(self) -> int: ...


class CompactOrders:
    """A reserve batch in compact form, ready for `reserve_compact`."""

    def __init__(self) -> None:
        self.order_ids: list[str] = []
        self.line_starts = array("q", [0])
        self.line_skus = array("i")
        self.line_quantities = array("q")
        self.ttls = array("q")
        self.unknown_skus: list[str] = []

    @classmethod
    def from_orders(cls, orders: Sequence[Order], sku_index: Callable[[str], int]) -> CompactOrders:
        """Intern each line's SKU; an unknown one gets a negative index."""
        compact = cls()
        unknown: dict[str, int] = {}
        for order_id, lines, ttl in orders:
            compact.order_ids.append(order_id)
            compact.ttls.append(ttl)
            for sku, quantity in lines:
                index = sku_index(sku)
                if index < 0:
                    index = unknown.setdefault(sku, -len(unknown) - 1)
                compact.line_skus.append(index)
                compact.line_quantities.append(quantity)
            compact.line_starts.append(len(compact.line_skus))
        compact.unknown_skus = list(unknown)
        return compact


def check_layout(
    order_ids: Sequence[str],
    line_starts: Sequence[int],
    line_skus: Sequence[int],
    line_quantities: Sequence[int],
    ttls: Sequence[int],
    unknown_sku_count: int,
    sku_count: int,
    now: int,
    limits: StockLimits,
) -> None:
    """The pure-Python statement of the layout rules; the core checks the same in C."""
    orders = len(order_ids)
    check_batch_size("reserve", orders, limits)
    check_clock("reserve", now, limits)
    if len(ttls) != orders or len(line_starts) != orders + 1:
        raise ValueError(layout_error("ttls needs one entry per order and line_starts one more"))
    if len(line_quantities) != len(line_skus) or line_starts[orders] != len(line_skus):
        raise ValueError(layout_error("line_starts must end at the number of lines"))
    if line_starts[0] != 0 or any(a > b for a, b in pairwise(line_starts)):
        raise ValueError(layout_error("line_starts must start at 0 and never decrease"))
    if any(not -unknown_sku_count <= sku < sku_count for sku in line_skus):
        raise ValueError(layout_error("a line_skus entry names no SKU"))


def layout_error(rule: str) -> str:
    return f"reserve_compact: {rule}"
