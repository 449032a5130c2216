"""Core and reference at a scale the state machine never reaches.

Thousands of SKUs and open holds make the core's key index and hold table
grow several times and delete from the middle of long probe runs; a seeded
random workload keeps the two models in lockstep while that happens.
"""

from __future__ import annotations

import random
import time

import pytest

from engine.stock._core import StockCore
from engine.stock.commands import Order
from engine.stock.events import StockEvent, StockReserved
from engine.stock.reference import ReferenceStock

SKUS = 3_000
LOCATIONS = ("dc-1", "dc-2", "shop-é")
ROUNDS = 40
ORDERS_PER_ROUND = 500


def same(core: StockCore, reference: ReferenceStock, call: str, *args: object) -> list[StockEvent]:
    events: list[StockEvent] = getattr(core, call)(*args)
    assert events == getattr(reference, call)(*args), call
    return events


def setup_slots(core: StockCore, reference: ReferenceStock, rng: random.Random) -> None:
    for start in range(0, SKUS, 1_000):
        skus = [f"SKU-{i:05d}" for i in range(start, start + 1_000)]
        slots = [
            (sku, location, rng.randrange(3), rng.randrange(2), rng.randrange(3))
            for sku in skus
            for location in rng.sample(LOCATIONS, rng.randint(1, 3))
        ]
        same(core, reference, "configure", slots)
        received = [(sku, location, rng.randint(1, 40), "po") for sku, location, *_ in slots]
        same(core, reference, "receive", received)


def random_orders(rng: random.Random, round_: int) -> list[Order]:
    return [
        (
            f"o-{round_}-{n}",
            [
                (f"SKU-{rng.randrange(SKUS + 20):05d}", rng.randint(1, 12))
                for _ in range(rng.randint(1, 3))
            ],
            rng.randint(1, 30),
        )
        for n in range(ORDERS_PER_ROUND)
    ]


def churn(hold_ids: list[int], rng: random.Random) -> tuple[list[int], ...]:
    """Pick holds to confirm, release and ship (some ship before confirming: refused)."""
    picked = rng.sample(hold_ids, min(len(hold_ids), 300))
    return picked[:150], picked[150:220], picked[100:200]


@pytest.mark.parametrize("seed", [1, 2])
def test_core_and_reference_agree_through_table_growth(seed: int) -> None:
    rng = random.Random(seed)
    core, reference = StockCore(), ReferenceStock()
    setup_slots(core, reference, rng)
    issued: list[int] = []
    for round_ in range(ROUNDS):
        now = round_ * 5
        events = same(core, reference, "reserve", random_orders(rng, round_), now)
        issued += [e.hold_id for e in events if isinstance(e, StockReserved)]
        confirm, release, ship = churn(issued, rng)
        same(core, reference, "confirm", confirm)
        same(core, reference, "release", [(h, rng.choice([None, 1])) for h in release])
        same(core, reference, "ship", [(h, 1) for h in ship])
        same(core, reference, "expire", now)
    assert core.state() == reference.state()
    assert len(core.state().holds) > 2_000, "the hold table never grew large"
    core.check_invariants()
    assert StockCore.from_snapshot(core.snapshot()).state() == reference.state()


def test_ending_a_large_batch_of_holds_takes_linear_time() -> None:
    """A hash that keeps a batch's holds in one dense run made this quadratic (~5 s)."""
    core = StockCore()
    core.configure([("HOT", "dc", 0, 0, 0)])
    core.receive([("HOT", "dc", 100_000, "po")])
    core.reserve([(f"o-{i}", [("HOT", 1)], 10) for i in range(100_000)], now=0)
    started = time.perf_counter()
    expired = core.expire(10)
    elapsed = time.perf_counter() - started
    assert len(expired) == 100_000
    assert elapsed < 1.0, f"expiring 100,000 holds took {elapsed:.2f} s"
    core.check_invariants()
