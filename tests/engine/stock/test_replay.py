"""apply, snapshot, from_snapshot: state rebuilt from history equals the live core."""

from __future__ import annotations

import msgspec
import pytest

from engine.stock._core import StockCore
from engine.stock.errors import InvariantError
from engine.stock.events import (
    HoldReleased,
    StockEvent,
    StockReceived,
    StockReserved,
    StockShipped,
)
from engine.stock.reference import ReferenceStock
from engine.stock.state import StockSnapshot
from tests.engine.stock.conftest import MakeStock
from tests.engine.stock.support import Stock


def history(stock: Stock) -> list[StockEvent]:
    """A workout touching every event kind; returns every event, rejections included."""
    events = stock.configure(
        [("A", "east", 0, 1, 0), ("A", "west", 1, 0, 2), ("B", "east", 0, 0, 0)]
    )
    events += stock.receive([("A", "east", 6, "po-1"), ("B", "east", 4, "po-2")])
    events += stock.reserve(
        [("o-1", [("A", 7), ("B", 1)], 10), ("o-2", [("B", 9)], 10), ("o-3", [("B", 2)], 5)],
        now=0,
    )
    events += stock.confirm([1, 3, 9])
    events += stock.ship([(1, 2), (3, 1)])
    events += stock.release([(2, 1), (1, None)])
    events += stock.adjust([("B", "east", -1, "damaged", "c-1")])
    events += stock.set_on_hand([("A", "east", 8, 4, "count", "c-2")])
    events += stock.restock([("A", "east", 1, "rma-1")])
    events += stock.configure([("A", "west", 0, 0, 2)])
    events += stock.expire(5)
    events += stock.reserve([("o-4", [("A", 3)], 50)], now=6)
    return events


def test_the_history_exercises_what_replay_must_handle(make_stock: MakeStock) -> None:
    kinds = {type(event).__name__ for event in history(make_stock())}
    assert kinds == {
        "SlotConfigured",
        "StockReceived",
        "StockReserved",
        "StockRejected",
        "HoldConfirmed",
        "StockShipped",
        "HoldReleased",
        "StockAdjusted",
        "StockRestocked",
        "HoldExpired",
    }


def test_applying_the_events_rebuilds_the_live_state(make_stock: MakeStock) -> None:
    live = make_stock()
    events = history(live)
    rebuilt = make_stock()
    rebuilt.apply(events)
    assert rebuilt.state() == live.state()
    rebuilt.check_invariants()
    # The rebuilt core carries on exactly as the live one does.
    assert rebuilt.reserve([("o-9", [("A", 1)], 5)], now=7) == live.reserve(
        [("o-9", [("A", 1)], 5)], now=7
    )


@pytest.mark.parametrize("cut", [0, 5, 11, 17, 23])
def test_a_snapshot_plus_the_events_after_it_rebuilds_the_live_state(
    make_stock: MakeStock, cut: int
) -> None:
    events = history(make_stock())
    before = make_stock()
    before.apply(events[:cut])
    restored = type(before).from_snapshot(before.snapshot())
    assert restored.state() == before.state()
    assert restored.limits == before.limits
    restored.apply(events[cut:])
    live = make_stock()
    history(live)
    assert restored.state() == live.state()


def test_core_and_reference_snapshots_are_the_same_bytes_and_interchange() -> None:
    core, reference = StockCore(), ReferenceStock()
    history(core)
    history(reference)
    assert core.snapshot() == reference.snapshot()
    assert ReferenceStock.from_snapshot(core.snapshot()).state() == core.state()
    assert StockCore.from_snapshot(reference.snapshot()).state() == reference.state()


def test_a_snapshot_whose_reserved_disagrees_with_its_holds_is_refused(
    make_stock: MakeStock,
) -> None:
    stock = make_stock()
    history(stock)
    snapshot = msgspec.msgpack.decode(stock.snapshot(), type=StockSnapshot)
    first = snapshot.state.slots[0]
    tampered = msgspec.structs.replace(first, reserved=first.reserved + 1)
    state = msgspec.structs.replace(snapshot.state, slots=(tampered, *snapshot.state.slots[1:]))
    data = msgspec.msgpack.encode(msgspec.structs.replace(snapshot, state=state))
    with pytest.raises(InvariantError, match="snapshot"):
        type(stock).from_snapshot(data)


def test_rejections_change_nothing_on_replay(make_stock: MakeStock) -> None:
    stock = make_stock()
    events = history(stock)
    rebuilt = make_stock()
    rebuilt.apply([e for e in events if type(e).__name__ != "StockRejected"])
    assert rebuilt.state() == stock.state()


def _received(on_hand: int) -> StockReceived:
    return StockReceived(sku="A", location="east", quantity=6, reference="po-1", on_hand=on_hand)


@pytest.mark.parametrize(
    "bad",
    [
        # on_hand does not follow from the movement
        _received(7),
        # a hold id out of sequence
        StockReserved(
            sku="A", location="east", hold_id=5, order_id="o", quantity=1, expires_at=9, reserved=1
        ),
        # a reservation the slot cannot cover: the oversell the core must never allow
        StockReserved(
            sku="A", location="east", hold_id=1, order_id="o", quantity=9, expires_at=9, reserved=9
        ),
        # a hold that was never issued ends
        HoldReleased(sku="A", location="east", hold_id=1, quantity=1, remaining=0, reserved=0),
        # a slot that was never configured
        StockReceived(sku="Q", location="east", quantity=1, reference="r", on_hand=1),
    ],
)
def test_a_history_that_does_not_add_up_stops_replay_loudly(
    make_stock: MakeStock, bad: StockEvent
) -> None:
    stock = make_stock()
    stock.configure([("A", "east", 0, 0, 0)])
    prefix = [] if bad == _received(7) else [_received(6)]
    with pytest.raises(InvariantError):
        stock.apply([*prefix, bad])


def test_a_hold_cannot_end_twice_in_a_replayed_history(make_stock: MakeStock) -> None:
    live = make_stock()
    events = history(live)
    shipped = next(e for e in events if isinstance(e, StockShipped) and e.remaining == 0)
    with pytest.raises(InvariantError, match="no such open hold"):
        make_stock().apply([*events, shipped])
