from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from engine.codec import from_stored
from engine.events import OrderCancelled
from engine.stock.events import Reason, StockReceived, StockRejected
from engine.store import open_factory
from engine.writer import Stamper, commit, stock_stream_of

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ID = uuid.UUID(int=1)


def received(sku: str, location: str, quantity: int) -> StockReceived:
    return StockReceived(
        sku=sku, location=location, quantity=quantity, reference="po", on_hand=quantity
    )


def test_versions_count_each_stream_from_one_across_batches() -> None:
    stamper = Stamper()
    first = stamper.stamp(
        [("a", received("A", "w", 1)), ("b", received("B", "w", 1)), ("a", received("A", "w", 2))],
        timestamp=NOW,
        correlation_id=ID,
        causation_id=ID,
    )
    second = stamper.stamp(
        [("a", received("A", "w", 3))], timestamp=NOW, correlation_id=ID, causation_id=ID
    )
    assert [(e.stream_id, e.version) for e in first + second] == [
        ("a", 1),
        ("b", 1),
        ("a", 2),
        ("a", 3),
    ]
    assert len({e.event_id for e in first + second}) == 4


def test_timestamps_are_stored_as_utc_and_naive_ones_refused() -> None:
    local = NOW.astimezone(timezone(timedelta(hours=2)))
    (envelope,) = Stamper().stamp(
        [("a", received("A", "w", 1))], timestamp=local, correlation_id=ID, causation_id=ID
    )
    assert envelope.timestamp == NOW
    assert envelope.timestamp.tzinfo == UTC
    with pytest.raises(ValueError, match="no timezone"):
        Stamper().stamp(
            [("a", received("A", "w", 1))],
            timestamp=NOW.replace(tzinfo=None),
            correlation_id=ID,
            causation_id=ID,
        )


def test_stock_streams() -> None:
    assert stock_stream_of(received("A", "w1", 1)) == "sku-A@w1"
    by_slot = StockRejected(
        operation="adjust", reason=Reason.STALE_EXPECTED_QUANTITY, detail="", sku="A", location="w1"
    )
    assert stock_stream_of(by_slot) == "sku-A@w1"
    by_order = StockRejected(
        operation="reserve", reason=Reason.INSUFFICIENT_STOCK, detail="", reference="o-7", sku="A"
    )
    assert stock_stream_of(by_order) == "order-o-7"
    with pytest.raises(TypeError, match="not a stock payload"):
        stock_stream_of(OrderCancelled(order_id="o-1", reason="customer"))


def test_commit_round_trips_through_the_store(tmp_path: Path) -> None:
    factory = open_factory(f"sqlite:///{tmp_path / 'store.db'}")
    recorder = factory.application_recorder()
    envelopes = Stamper().stamp(
        [("sku-A@w", received("A", "w", 5)), ("sku-A@w", received("A", "w", 9))],
        timestamp=NOW,
        correlation_id=ID,
        causation_id=ID,
    )
    assert list(commit(recorder, envelopes)) == [1, 2]
    assert [from_stored(s) for s in recorder.select_events("sku-A@w")] == envelopes
    factory.close()
