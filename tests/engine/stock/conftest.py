"""Every unit test runs against both the Cython core and the reference model."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.stock._core import StockCore
from engine.stock.limits import StockLimits
from engine.stock.reference import ReferenceStock
from tests.engine.stock.support import Stock

MakeStock = Callable[..., Stock]

# Typed as the shared protocol, so mypy proves both models implement all of it.
MODELS: tuple[type[Stock], ...] = (StockCore, ReferenceStock)


@pytest.fixture(params=MODELS, ids=["core", "reference"])
def make_stock(request: pytest.FixtureRequest) -> MakeStock:
    """`make_stock(**limits)`: an empty core (or reference model) with these limits."""
    kind: type[Stock] = request.param

    def make(**limits: int) -> Stock:
        return kind(StockLimits(**limits))

    return make


@pytest.fixture
def stock(make_stock: MakeStock) -> Stock:
    """A core with sku A at two locations (east first) and B at one, some stock in each."""
    stock = make_stock()
    stock.configure([("A", "east", 0, 0, 0), ("A", "west", 1, 0, 0), ("B", "east", 0, 0, 0)])
    stock.receive([("A", "east", 10, "po-1"), ("A", "west", 5, "po-2"), ("B", "east", 3, "po-3")])
    return stock
