"""Platform read model against a count of the raw events after a demo run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from eventsourcing.persistence import ApplicationRecorder

from engine.codec import decode
from engine.commands import AdjustStock, CancelOrder, RecordPayment
from engine.engine import Engine, EngineSettings
from engine.events import CreditCommandRejected, OrderCommandRejected, OrderRejected, topic_of
from engine.stock.events import StockRejected
from engine.store import open_factory
from projections.db import Database
from projections.platform import Platform
from projections.queries import rejections, throughput
from projections.runner import catch_up, rebuild
from tests.projections.conftest import dump


def _count(store: ApplicationRecorder) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, ...]]]:
    """Events per (hour, topic), and rejections per (day, event, command, reason)."""
    events: Counter[tuple[str, str]] = Counter()
    rejected: Counter[tuple[str, ...]] = Counter()
    for n in store.select_notifications(None, 10**9):
        envelope = decode(n.state)
        data = envelope.data
        hour = envelope.timestamp.strftime("%Y-%m-%dT%H")
        events[hour, topic_of(data)] += 1
        day = hour[:10]
        if isinstance(data, StockRejected):
            rejected[day, "StockRejected", data.operation, data.reason] += 1
        elif isinstance(data, OrderCommandRejected | CreditCommandRejected):
            rejected[day, type(data).__name__, data.command, data.reason] += 1
        elif isinstance(data, OrderRejected):
            rejected[day, "OrderRejected", "", data.reason] += 1
    return events, rejected


def test_throughput_counts_every_event(db: Database, demo_store: ApplicationRecorder) -> None:
    catch_up(db, demo_store, [Platform()], events_max=700)
    events, _ = _count(demo_store)

    per_hour = throughput(db)
    per_day = throughput(db, per="day")

    assert {(t.period, t.topic): t.events for t in per_hour} == dict(events)
    days: Counter[tuple[str, str]] = Counter()
    for (hour, topic), count in events.items():
        days[hour[:10], topic] += count
    assert {(t.period, t.topic): t.events for t in per_day} == dict(days)
    assert sum(t.events for t in per_day) == demo_store.max_notification_id()
    assert {t.topic for t in per_day} == {"orders", "stock", "credit"}
    assert throughput(db, since="9999") == []
    with pytest.raises(ValueError, match="throughput per 'week'"):
        throughput(db, per="week")


def test_rejections_by_reason_count_the_events(
    db: Database, demo_store: ApplicationRecorder
) -> None:
    catch_up(db, demo_store, [Platform()], events_max=700)
    _, rejected = _count(demo_store)

    found = rejections(db)

    assert {(r.day, r.event, r.command, r.reason): r.rejected for r in found} == dict(rejected)
    assert found
    only = found[0].event
    assert {r.event for r in rejections(db, event=only)} == {only}


def test_every_kind_of_rejection(db: Database, tmp_path: Path) -> None:
    # The demo's storefront only meets the saga's rejections; these meet the rest.
    recorder = open_factory(f"sqlite:///{tmp_path}/store.db").application_recorder()
    Engine.open(recorder, EngineSettings(freeze_gc=False)).submit(
        [
            CancelOrder(command_id="cancel", order_id="no-such-order", reason="test"),
            AdjustStock(
                command_id="adjust",
                sku="no-such-sku",
                location="x",
                delta=1,
                reason="count",
                reference="r",
            ),
            RecordPayment(command_id="pay", customer_id="nobody", payment_id="p", amount_cents=1),
        ]
    )
    catch_up(db, recorder, [Platform()])
    _, rejected = _count(recorder)

    found = rejections(db)

    assert {(r.day, r.event, r.command, r.reason): r.rejected for r in found} == dict(rejected)
    assert {r.event for r in found} == {
        "OrderCommandRejected",
        "StockRejected",
        "CreditCommandRejected",
    }


def test_replay_and_rebuild_change_nothing(db: Database, demo_store: ApplicationRecorder) -> None:
    catch_up(db, demo_store, [Platform()], events_max=500)
    tables = [t.name for t in Platform.tables]
    live = {t: dump(db, t) for t in tables}

    assert catch_up(db, demo_store, [Platform()]) == 0
    rebuild(db, demo_store, [Platform()], events_max=700)

    assert {t: dump(db, t) for t in tables} == live
