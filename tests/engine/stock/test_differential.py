"""The core against its oracle: random operation sequences, identical answers.

Small domains (four SKUs, one of them too long to configure, three locations,
quantities around the limits) and tight limits make refusals, splits, limit
edges and expiries happen in most runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from engine.stock._core import StockCore
from engine.stock.commands import Order
from engine.stock.compact import CompactOrders
from engine.stock.events import StockEvent
from engine.stock.limits import StockLimits
from engine.stock.reference import ReferenceStock
from tests.engine.stock.support import Stock

LIMITS = StockLimits(
    sku_slots_max=6,
    locations_per_sku_max=2,
    lines_per_order_max=3,
    quantity_max=20,
    batch_size_max=4,
    open_holds_max=6,
    key_bytes_max=2,
    priority_max=3,
    ttl_max=8,
)

T = TypeVar("T")

# A and B are configured at the start, C may be later, XYZ is too long to ever be.
skus = st.sampled_from(["A", "A", "B", "B", "C", "XYZ"])
locations = st.sampled_from(["n", "s", "e"])
line_skus = st.sampled_from(["A", "A", "A", "B", "B", "C"])
references = st.sampled_from(["r-1", "r-2"])


def now_and_then(usual: st.SearchStrategy[T], edge: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """`usual` seven times in eight, `edge` otherwise (one_of would favour the edge)."""
    return st.integers(0, 7).flatmap(lambda roll: edge if roll == 0 else usual)


def mostly(valid: st.SearchStrategy[int], *edges: int) -> st.SearchStrategy[int]:
    """Valid values, and now and then the edges just outside the limits."""
    return now_and_then(valid, st.sampled_from(edges))


quantities = mostly(st.integers(1, 10), -1, 0, LIMITS.quantity_max, LIMITS.quantity_max + 1)
small = mostly(st.integers(1, 4), -1, 0, 7)


def batches(items: st.SearchStrategy[T]) -> st.SearchStrategy[list[T]]:
    """Batches within batch_size_max, and now and then one past it."""
    too_large = st.lists(
        items, min_size=LIMITS.batch_size_max + 1, max_size=LIMITS.batch_size_max + 1
    )
    return now_and_then(st.lists(items, max_size=LIMITS.batch_size_max), too_large)


Outcome = list[StockEvent] | tuple[type[Exception], str]
orders = batches(
    st.tuples(
        st.sampled_from(["o-1", "o-2", "o-3"]),
        now_and_then(
            st.lists(st.tuples(line_skus, small), min_size=1, max_size=LIMITS.lines_per_order_max),
            st.sampled_from([[], [("A", 1)] * (LIMITS.lines_per_order_max + 1)]),
        ),
        mostly(st.integers(1, LIMITS.ttl_max), 0, LIMITS.ttl_max + 1),
    )
)


class CoreMatchesReference(RuleBasedStateMachine):
    """Every call goes to both; events, errors and state must be identical."""

    def __init__(self) -> None:
        super().__init__()
        self.core = StockCore(LIMITS)
        self.reference = ReferenceStock(LIMITS)
        self.replica = StockCore(LIMITS)  # fed the events only
        self.restored: StockCore | None = None  # from a snapshot, then fed the events after it
        self.events: list[StockEvent] = []
        self.now = 0

    def both(self, call: Callable[[Stock], Outcome]) -> None:
        outcomes = [self.outcome(call, model) for model in (self.core, self.reference)]
        assert outcomes[0] == outcomes[1]
        if isinstance(outcomes[0], list):
            self.record(outcomes[0])

    @staticmethod
    def outcome(call: Callable[[Stock], Outcome], model: Stock) -> Outcome:
        try:
            return call(model)
        except (ValueError, TypeError) as error:
            return (type(error), str(error))

    def record(self, events: list[StockEvent]) -> None:
        self.events.extend(events)
        self.replica.apply(events)
        if self.restored is not None:
            self.restored.apply(events)

    @initialize(stock=st.lists(st.integers(0, LIMITS.quantity_max), min_size=3, max_size=3))
    def start(self, stock: list[int]) -> None:
        """A at two locations (one with backorders), B with safety stock; C unconfigured."""
        slots = [("A", "n", 0, 0, 0), ("A", "s", 1, 0, 2), ("B", "n", 0, 1, 0)]
        self.both(lambda m: m.configure(slots))
        received = [
            (sku, location, quantity, "po")
            for (sku, location, *_), quantity in zip(slots, stock, strict=True)
            if quantity > 0
        ]
        self.both(lambda m: m.receive(received))

    @rule(
        items=batches(
            st.tuples(skus, locations, st.integers(-1, 4), st.integers(-1, 6), st.integers(-1, 6))
        )
    )
    def configure(self, items: list[tuple[str, str, int, int, int]]) -> None:
        self.both(lambda m: m.configure(items))

    @rule(items=batches(st.tuples(skus, locations, quantities, references)), restock=st.booleans())
    def receive(self, items: list[tuple[str, str, int, str]], restock: bool) -> None:
        self.both(lambda m: m.restock(items) if restock else m.receive(items))

    @rule(items=batches(st.tuples(skus, locations, st.integers(-12, 12), references, references)))
    def adjust(self, items: list[tuple[str, str, int, str, str]]) -> None:
        self.both(lambda m: m.adjust(items))

    @rule(
        sku=skus, location=locations, quantity=st.integers(-1, 15), guess=st.integers(0, 15),
        fresh=st.booleans(),
    )  # fmt: skip
    def set_on_hand(self, sku: str, location: str, quantity: int, guess: int, fresh: bool) -> None:
        slot = self.reference.slot(sku, location)
        expected = slot.on_hand if fresh and slot is not None else guess
        self.both(lambda m: m.set_on_hand([(sku, location, quantity, expected, "count", "c")]))

    @rule(batch=orders, path=st.sampled_from(["plain", "compact"]))
    def reserve(self, batch: list[Order], path: str) -> None:
        now = self.now
        if path == "plain":
            self.both(lambda m: m.reserve(batch, now))
        else:
            self.both(lambda m: reserve_compact(m, batch, now))

    @rule(data=st.data())
    def confirm(self, data: st.DataObject) -> None:
        hold_ids = data.draw(batches(self.hold_ids()))
        self.both(lambda m: m.confirm(hold_ids))

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        items = data.draw(batches(st.tuples(self.hold_ids(), st.none() | small)))
        self.both(lambda m: m.release(items))

    @rule(data=st.data())
    def ship(self, data: st.DataObject) -> None:
        items = data.draw(batches(st.tuples(self.hold_ids(), small)))
        self.both(lambda m: m.ship(items))

    @rule(ticks=st.integers(0, 4))
    def expire(self, ticks: int) -> None:
        self.now += ticks
        now = self.now
        self.both(lambda m: m.expire(now))

    @rule()
    def restart_from_snapshot(self) -> None:
        """The core carries on from its own snapshot; a copy starts tracking from here."""
        self.core = StockCore.from_snapshot(self.core.snapshot())
        self.restored = StockCore.from_snapshot(self.reference.snapshot())

    @precondition(lambda self: len(self.events) > 0)
    @rule()
    def rebuild_from_all_events(self) -> None:
        rebuilt = StockCore(LIMITS)
        rebuilt.apply(self.events)
        assert rebuilt.state() == self.core.state()

    def hold_ids(self) -> st.SearchStrategy[int]:
        """Mostly open holds; sometimes any id, issued or not."""
        state = self.reference.state()
        anything = st.integers(-1, state.next_hold_id + 1)
        if not state.holds:
            return anything
        return st.one_of(st.sampled_from([hold.hold_id for hold in state.holds]), anything)

    @invariant()
    def same_state_everywhere(self) -> None:
        state = self.reference.state()
        assert self.core.state() == state
        assert self.replica.state() == state
        if self.restored is not None:
            assert self.restored.state() == state

    @invariant()
    def invariants_hold(self) -> None:
        self.core.check_invariants()
        self.reference.check_invariants()
        self.replica.check_invariants()


def reserve_compact(model: Stock, batch: list[Order], now: int) -> list[StockEvent]:
    packed = CompactOrders.from_orders(batch, model.sku_index)
    log = model.reserve_compact(
        packed.order_ids,
        packed.line_starts,
        packed.line_skus,
        packed.line_quantities,
        packed.ttls,
        now,
        packed.unknown_skus,
    )
    return log.events()


CoreMatchesReference.TestCase.settings = settings(
    max_examples=500,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCoreMatchesReference = CoreMatchesReference.TestCase
