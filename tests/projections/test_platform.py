"""Platform read model against a count of the raw events after a demo run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import ApplicationRecorder

from consumers import dlq
from engine.codec import decode
from engine.commands import AdjustStock, CancelOrder, RecordPayment
from engine.engine import Engine, EngineSettings
from engine.events import CreditCommandRejected, OrderCommandRejected, OrderRejected, topic_of
from engine.stock.events import StockRejected
from engine.store import open_factory
from projections.db import Database
from projections.platform import Platform
from projections.queries import dead_letters, platform, platform_periods, rejections, throughput
from projections.runner import catch_up, ensure_schema, rebuild
from tests.projections.conftest import by_notifications, dump


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
    # Rejected commands were answered all the same: each counts once.
    assert sum(p.commands for p in platform_periods(db, per="day")) == 3


def test_replay_and_rebuild_change_nothing(db: Database, demo_store: ApplicationRecorder) -> None:
    catch_up(db, demo_store, [Platform()], events_max=500)
    tables = [t.name for t in Platform.tables]
    live = {t: dump(db, t) for t in tables}

    assert catch_up(db, demo_store, [Platform()]) == 0
    rebuild(db, demo_store, [Platform()], events_max=700)

    assert {t: dump(db, t) for t in tables} == live


def _commands(store: ApplicationRecorder) -> Counter[str]:
    """Distinct causation ids (the commands the engine answered) per hour."""
    causes: dict[str, set[UUID]] = {}
    for n in store.select_notifications(None, 10**9):
        envelope = decode(n.state)
        causes.setdefault(envelope.timestamp.strftime("%Y-%m-%dT%H"), set()).add(
            envelope.causation_id
        )
    return Counter({hour: len(ids) for hour, ids in causes.items()})


def test_commands_per_hour_count_the_causation_ids(
    db: Database, demo_store: ApplicationRecorder
) -> None:
    catch_up(db, demo_store, [Platform()], events_max=700)
    commands = _commands(demo_store)
    events, _ = _count(demo_store)

    per_hour = platform_periods(db)

    assert {p.period: p.commands for p in per_hour} == dict(commands)
    assert {p.period: p.events for p in per_hour} == {
        hour: sum(n for (h, _), n in events.items() if h == hour) for hour in commands
    }
    per_day = platform_periods(db, per="day")
    assert sum(p.commands for p in per_day) == sum(commands.values())
    assert sum(p.events for p in per_day) == demo_store.max_notification_id()
    # The demo's storefront sends several events' worth of saga per command, so
    # counting events or notifications instead would not pass.
    assert sum(commands.values()) < (demo_store.max_notification_id() or 0) // 2
    assert platform_periods(db, since="9999") == []
    with pytest.raises(ValueError, match="per 'week'"):
        platform_periods(db, per="week")


def test_a_command_cut_by_a_batch_boundary_counts_once(
    db: Database, demo_store: ApplicationRecorder
) -> None:
    store = by_notifications(demo_store)
    # Seven notifications a batch cut many commands of the demo (a placed order is more).
    catch_up(db, store, [Platform()], events_max=7)

    assert {p.period: p.commands for p in platform_periods(db)} == dict(_commands(demo_store))


def test_dead_letters_are_counted_per_consumer(db: Database) -> None:
    ensure_schema(db, [Platform()])
    assert dead_letters(db) == []  # no consumer ran here: no table, nothing waiting
    dlq.ensure_table(db)
    with db.transaction():
        for notification_id in (3, 9, 4):
            dlq.add(db, "alerts", 0, notification_id, "KeyError: 'x'", b"raw")
        dlq.add(db, "logistics", 0, 5, "ValueError", b"raw")
        dlq.add(db, "alerts", 0, 9, "failed again", b"raw")  # the same letter, not a new one
    letters = listing_by_consumer(db)

    found = dead_letters(db)

    assert [(d.consumer, d.letters) for d in found] == [("alerts", 3), ("logistics", 1)]
    for count in found:
        assert count.oldest_failed_at == min(letters[count.consumer])
        assert count.newest_failed_at == max(letters[count.consumer])
    assert platform(db).dead_letters == found


def listing_by_consumer(db: Database) -> dict[str, list[str]]:
    letters: dict[str, list[str]] = {}
    for letter in dlq.listing(db):
        letters.setdefault(letter.consumer, []).append(letter.failed_at)
    return letters


def test_platform_pages_its_periods_and_keeps_every_dead_letter(
    db: Database, demo_store: ApplicationRecorder
) -> None:
    catch_up(db, demo_store, [Platform()])
    dlq.ensure_table(db)
    with db.transaction():
        dlq.add(db, "credit-review", 0, 1, "boom", b"raw")
    every = platform_periods(db)

    page = platform(db, limit=1, offset=len(every) - 1)

    assert page.periods == every[-1:]
    assert [(d.consumer, d.letters) for d in page.dead_letters] == [("credit-review", 1)]
