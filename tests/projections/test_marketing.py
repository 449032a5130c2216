"""Marketing read model against a count of the raw events after a demo run."""

from __future__ import annotations

from collections import Counter
from datetime import UTC
from typing import Any

import pytest
from eventsourcing.persistence import ApplicationRecorder

from engine.codec import decode
from engine.events import (
    ClockAdvanced,
    LinesReturned,
    LinesShipped,
    OrderCancelled,
    OrderConfirmed,
    OrderExpired,
    OrderPlaced,
    OrderRejected,
)
from projections.db import Database
from projections.marketing import Marketing
from projections.queries import marketing, marketing_day_zero
from projections.runner import catch_up, ensure_schema, rebuild
from tests.projections.conftest import by_notifications, dump

DAY_S = 86_400

Group = tuple[int, str, str]


def _count(store: ApplicationRecorder) -> dict[str, Counter[Any]]:
    """Per (placement day, channel, campaign): orders placed, confirmed, ... and revenue."""
    group_of: dict[str, Group] = {}
    seen: dict[str, set[str]] = {}
    counts: dict[str, Counter[Any]] = {
        name: Counter()
        for name in ("placed", "confirmed", "revenue", "cancelled", "lost", "shipped", "returned")
    }
    now = 0
    for n in store.select_notifications(None, 10**9):
        data = decode(n.state).data
        if isinstance(data, ClockAdvanced):
            now = data.now
        elif isinstance(data, OrderPlaced):
            group_of[data.order_id] = (now // DAY_S, data.channel, data.campaign or "")
            seen[data.order_id] = set()
            counts["placed"][group_of[data.order_id]] += 1
        elif isinstance(data, OrderConfirmed):
            counts["confirmed"][group_of[data.order_id]] += 1
            counts["revenue"][group_of[data.order_id]] += data.total_cents
        elif isinstance(data, OrderCancelled):
            counts["cancelled"][group_of[data.order_id]] += 1
        elif isinstance(data, OrderExpired | OrderRejected):
            counts["lost"][group_of[data.order_id]] += 1
        elif isinstance(data, LinesShipped | LinesReturned):
            kind = "shipped" if isinstance(data, LinesShipped) else "returned"
            if kind not in seen[data.order_id]:
                seen[data.order_id].add(kind)
                counts[kind][group_of[data.order_id]] += 1
    return counts


def test_daily_figures_by_channel_and_campaign_count_the_events(
    db: Database, demo_store: ApplicationRecorder
) -> None:
    catch_up(db, demo_store, [Marketing()])
    counts = _count(demo_store)

    rows = marketing(db)

    got = {(r.day, r.channel, r.campaign): r for r in rows}
    assert set(got) == set(counts["placed"])
    for group, row in got.items():
        assert row.orders_placed == counts["placed"][group]
        assert row.orders_confirmed == counts["confirmed"][group]
        assert row.revenue_cents == counts["revenue"][group]
        assert row.orders_cancelled == counts["cancelled"][group]
        assert row.orders_lost == counts["lost"][group]
        assert row.orders_shipped == counts["shipped"][group]
        assert row.orders_returned == counts["returned"][group]
        assert row.conversion == row.orders_confirmed / row.orders_placed
        assert row.cancellation_rate == row.orders_cancelled / row.orders_placed
    # The demo has several channels and campaigns, cancellations and returns (its
    # 400 orders all come in on logical day 0).
    assert len({r.channel for r in rows}) >= 3
    assert len({r.campaign for r in rows}) >= 3
    assert sum(counts["cancelled"].values()) > 0
    assert sum(counts["returned"].values()) > 0


def test_totals_by_channel(db: Database, demo_store: ApplicationRecorder) -> None:
    catch_up(db, demo_store, [Marketing()])
    counts = _count(demo_store)
    by_channel: dict[str, Counter[Any]] = {name: Counter() for name in counts}
    for name, counter in counts.items():
        for (_, channel, _), value in counter.items():
            by_channel[name][channel] += value

    rows = marketing(db, by=["channel"], per_day=False)

    assert [r.channel for r in rows] == sorted(by_channel["placed"])
    for row in rows:
        assert (row.day, row.campaign) == (None, None)
        revenue, confirmed = (
            by_channel["revenue"][row.channel],
            by_channel["confirmed"][row.channel],
        )
        assert row.revenue_cents == revenue
        assert row.average_order_cents == (revenue / confirmed if confirmed else None)
        shipped = by_channel["shipped"][row.channel]
        assert row.return_rate == (
            by_channel["returned"][row.channel] / shipped if shipped else None
        )
    [total] = marketing(db, by=[], per_day=False)
    assert total.orders_placed == sum(counts["placed"].values())
    assert marketing(db, since_day=10**6) == []
    with pytest.raises(ValueError, match="cannot group marketing by"):
        marketing(db, by=["sku"])


def test_replay_and_rebuild_change_nothing(db: Database, demo_store: ApplicationRecorder) -> None:
    catch_up(db, demo_store, [Marketing()], events_max=500)
    tables = [t.name for t in Marketing.tables]
    live = {t: dump(db, t) for t in tables}

    assert catch_up(db, demo_store, [Marketing()]) == 0
    rebuild(db, demo_store, [Marketing()], events_max=700)

    assert {t: dump(db, t) for t in tables} == live


def test_day_zero_is_the_date_of_the_first_event_folded(
    db: Database, demo_store: ApplicationRecorder
) -> None:
    ensure_schema(db, [Marketing()])
    assert marketing_day_zero(db) is None  # nothing folded: no calendar to read a date by
    first = next(
        decode(n.state)
        for n in demo_store.select_notifications(None, 10**9)
        if isinstance(decode(n.state).data, Marketing.reads or ())
    )

    catch_up(db, by_notifications(demo_store), [Marketing()], events_max=300)

    assert marketing_day_zero(db) == first.timestamp.astimezone(UTC).date()
    # Later batches do not move it: it is where the logical clock's day 0 was.
    rebuild(db, demo_store, [Marketing()], events_max=700)
    assert marketing_day_zero(db) == first.timestamp.astimezone(UTC).date()
