"""Replaying a store into a fresh stock core rebuilds the live core's state exactly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.popo import POPOApplicationRecorder

from engine.events import Event, OrderCancelled, order_stream_id
from engine.replay import replay_stock
from engine.stock._core import StockCore
from engine.stock.events import StockReserved
from engine.store import open_factory
from engine.writer import Stamper, commit, stock_stream_of

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def live_history(core: StockCore) -> list[list[Event]]:
    """Batches of what a busy core says: splits across locations, rejections, every hold ending."""
    core_batches: list[list[Event]] = [
        list(core.configure([("A", "w1", 0, 2, 0), ("A", "w2", 1, 0, 3), ("B", "w1", 0, 0, 0)])),
        list(
            core.receive([("A", "w1", 10, "po-1"), ("A", "w2", 4, "po-2"), ("B", "w1", 5, "po-3")])
        ),
        list(core.reserve([(f"o{i}", [("A", 3), ("B", 1)], 5) for i in range(8)], now=0)),
    ]
    holds = [e.hold_id for batch in core_batches for e in batch if isinstance(e, StockReserved)]
    core_batches.append(list(core.confirm(holds[:4])))
    core_batches.append(list(core.ship([(h, 1) for h in holds[:2]])))
    core_batches.append(list(core.release([(holds[2], None)])))
    core_batches.append(list(core.expire(now=10)))
    core_batches.append(list(core.adjust([("B", "w1", -1, "damaged", "audit-1")])))
    return core_batches


def record(recorder: ApplicationRecorder, batches: list[list[Event]]) -> None:
    stamper = Stamper()
    correlation = uuid.uuid4()
    for batch in batches:
        pairs: list[tuple[str, Event]] = [(stock_stream_of(e), e) for e in batch]
        # Other topics share the store; a stock replay must step over them.
        pairs.append((order_stream_id("x"), OrderCancelled(order_id="x", reason="test")))
        envelopes = stamper.stamp(
            pairs, timestamp=NOW, correlation_id=correlation, causation_id=correlation
        )
        commit(recorder, envelopes)


def test_embedded_store_replay_equals_the_live_core(tmp_path: Path) -> None:
    live = StockCore()
    batches = live_history(live)
    factory = open_factory(f"sqlite:///{tmp_path / 'store.db'}")
    recorder = factory.application_recorder()
    record(recorder, batches)
    replayed = StockCore()
    assert replay_stock(recorder, replayed) == sum(len(b) for b in batches)
    assert replayed.state() == live.state()
    replayed.check_invariants()
    factory.close()


def test_any_eventsourcing_recorder_replays_the_same() -> None:
    live = StockCore()
    batches = live_history(live)
    recorder = POPOApplicationRecorder()
    record(recorder, batches)
    replayed = StockCore()
    replay_stock(recorder, replayed)
    assert replayed.state() == live.state()
