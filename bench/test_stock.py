"""The stock core against its reference model, side by side in one run.

    python -m pytest bench/test_stock.py --benchmark-only

Bars: batch reserve >= 5,000,000 reservations/s and >= 20x the reference; a
flash sale (one hot slot, more buyers than units) >= 5,000,000/s with no
oversell; 1,000,000 slots in <= 128 MiB resident.
"""

from __future__ import annotations

import subprocess
import sys
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from bench.conftest import Record, per_second
from engine.stock._core import StockCore
from engine.stock.commands import Order
from engine.stock.compact import CompactOrders, ReserveLog
from engine.stock.model import StockModel
from engine.stock.reference import ReferenceStock

T = TypeVar("T")

PEERS: tuple[type[StockModel], ...] = (StockCore, ReferenceStock)
PEER_IDS = ["core", "reference"]
ROUNDS = {StockCore: 10, ReferenceStock: 2}

BATCH_ORDERS = 100_000
BATCH_SKUS = 10_000
BATCH_LOCATIONS = ("dc-north", "dc-south")
FLASH_BUYERS = 1_000_000
FLASH_UNITS = 600_000
MEMORY_SLOTS = 1_000_000
CHUNK = 10_000

# Reservations/s of each peer's compact batch reserve, for the speed-up figure.
_batch_rates: dict[str, float] = {}


def stocked(kind: type[StockModel]) -> StockModel:
    """BATCH_SKUS SKUs at two locations, 1,000 units each: enough for every order."""
    stock = kind()
    skus = [f"SKU-{i:06d}" for i in range(BATCH_SKUS)]
    for start in range(0, BATCH_SKUS, CHUNK // 2):
        chunk = skus[start : start + CHUNK // 2]
        stock.configure([(s, loc, p, 0, 0) for s in chunk for p, loc in enumerate(BATCH_LOCATIONS)])
        stock.receive([(s, loc, 1_000, "po") for s in chunk for loc in BATCH_LOCATIONS])
    return stock


def batch_orders() -> list[Order]:
    """One line of one unit per order, spread over every SKU."""
    return [(f"o-{i}", [(f"SKU-{i % BATCH_SKUS:06d}", 1)], 900) for i in range(BATCH_ORDERS)]


def reserve_compact(stock: StockModel, orders: CompactOrders) -> ReserveLog:
    return stock.reserve_compact(
        orders.order_ids,
        orders.line_starts,
        orders.line_skus,
        orders.line_quantities,
        orders.ttls,
        0,
        orders.unknown_skus,
    )


def rounds_of(
    benchmark: BenchmarkFixture,
    target: Callable[..., T],
    setup: Callable[[], tuple[tuple[object, ...], dict[str, object]]] | None,
    rounds: int,
) -> T:
    """`benchmark.pedantic` with its types: one fresh `setup` per timed round."""
    result: T = benchmark.pedantic(target, setup=setup, rounds=rounds)  # type: ignore[no-untyped-call]
    return result


def record_rate(
    benchmark: BenchmarkFixture, figure: Record, name: str, items: int, bar: str = ""
) -> float | None:
    rate = per_second(benchmark, items)
    if rate is not None:
        benchmark.extra_info["reservations_per_s"] = round(rate)
        figure(name, rate, "reservations/s", bar)
    return rate


@pytest.mark.parametrize("kind", PEERS, ids=PEER_IDS)
def test_batch_reserve_compact(
    benchmark: BenchmarkFixture, figure: Record, kind: type[StockModel]
) -> None:
    """The hot path: interned SKU indices in, a compact log out, no structs built."""
    orders = CompactOrders.from_orders(batch_orders(), stocked(kind).sku_index)
    log = rounds_of(benchmark, reserve_compact, lambda: ((stocked(kind), orders), {}), ROUNDS[kind])
    assert (log.reserved_count, log.rejected_count) == (BATCH_ORDERS, 0)
    name = PEER_IDS[PEERS.index(kind)]
    rate = record_rate(
        benchmark,
        figure,
        f"batch reserve, compact: {name}",
        BATCH_ORDERS,
        ">= 5,000,000" if kind is StockCore else "",
    )
    if rate is not None:
        _batch_rates[name] = rate
    if len(_batch_rates) == len(PEERS):
        speed_up = _batch_rates["core"] / max(_batch_rates["reference"], 1.0)
        benchmark.extra_info["core_over_reference"] = round(speed_up, 1)
        figure("batch reserve, compact: core / reference", speed_up, "x", ">= 20")


@pytest.mark.parametrize("kind", PEERS, ids=PEER_IDS)
def test_batch_reserve_plain(
    benchmark: BenchmarkFixture, figure: Record, kind: type[StockModel]
) -> None:
    """The list-of-tuples API, events built as structs: what a Python caller pays."""
    orders = batch_orders()
    events = rounds_of(
        benchmark,
        lambda stock: stock.reserve(orders, now=0),
        lambda: ((stocked(kind),), {}),
        ROUNDS[kind] // 2,
    )
    assert len(events) == BATCH_ORDERS
    record_rate(
        benchmark,
        figure,
        f"batch reserve, plain + events: {PEER_IDS[PEERS.index(kind)]}",
        BATCH_ORDERS,
    )


def flash_sale_stock(kind: type[StockModel]) -> StockModel:
    stock = kind()
    stock.configure([("HOT-1", "dc-north", 0, 0, 0)])
    stock.receive([("HOT-1", "dc-north", FLASH_UNITS, "po")])
    return stock


def flash_sale_orders() -> tuple[list[str], array[int], array[int], array[int], array[int]]:
    """A million buyers of one unit each of SKU index 0 (the only SKU)."""
    return (
        [f"buyer-{i}" for i in range(FLASH_BUYERS)],
        array("q", range(FLASH_BUYERS + 1)),
        array("i", bytes(4 * FLASH_BUYERS)),
        array("q", [1]) * FLASH_BUYERS,
        array("q", [60]) * FLASH_BUYERS,
    )


@pytest.mark.parametrize("kind", PEERS, ids=PEER_IDS)
def test_flash_sale(benchmark: BenchmarkFixture, figure: Record, kind: type[StockModel]) -> None:
    orders = flash_sale_orders()
    stock_and_log: list[tuple[StockModel, ReserveLog]] = []

    def sell(stock: StockModel) -> None:
        stock_and_log[:] = [(stock, stock.reserve_compact(*orders, now=0))]

    rounds_of(benchmark, sell, lambda: ((flash_sale_stock(kind),), {}), max(1, ROUNDS[kind] // 2))
    stock, log = stock_and_log[-1]
    slot = stock.slot("HOT-1", "dc-north")
    assert slot is not None
    assert (slot.on_hand, slot.reserved) == (FLASH_UNITS, FLASH_UNITS), "oversold"
    assert (log.reserved_count, log.rejected_count) == (FLASH_UNITS, FLASH_BUYERS - FLASH_UNITS)
    stock.check_invariants()
    record_rate(
        benchmark,
        figure,
        f"flash sale, 1 slot: {PEER_IDS[PEERS.index(kind)]}",
        FLASH_BUYERS,
        ">= 5,000,000, no oversell" if kind is StockCore else "",
    )


_MEASURE_RSS = """
import gc, sys, psutil
from engine.stock._core import StockCore
from engine.stock.reference import ReferenceStock
kind = {"core": StockCore, "reference": ReferenceStock}[sys.argv[1]]
slots, chunk = int(sys.argv[2]), int(sys.argv[3])
process = psutil.Process()
gc.collect()
before = process.memory_info().rss
stock = kind()
for start in range(0, slots, chunk):
    stock.configure([(f"SKU-{i:07d}", "dc-north", 0, 0, 0) for i in range(start, start + chunk)])
gc.collect()
assert stock.slot(f"SKU-{slots - 1:07d}", "dc-north") is not None
print(process.memory_info().rss - before)
"""


def resident_bytes(kind: str) -> int:
    """RSS growth of a fresh interpreter that configures MEMORY_SLOTS distinct SKUs."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE_RSS, kind, str(MEMORY_SLOTS), str(CHUNK)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.strip())


@pytest.mark.parametrize("kind", PEER_IDS)
def test_memory_of_a_million_slots(benchmark: BenchmarkFixture, figure: Record, kind: str) -> None:
    """One SKU per slot is the costly case: a million keys to intern, not 250,000."""
    grown = rounds_of(benchmark, resident_bytes, lambda: ((kind,), {}), 1)
    mib = grown / 2**20
    benchmark.extra_info["rss_growth_mib"] = round(mib, 1)
    figure(f"1,000,000 slots, RSS growth: {kind}", mib, "MiB", "<= 128" if kind == "core" else "")
    if kind == "core":
        assert mib <= 128
