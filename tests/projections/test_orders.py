"""Order read models against the engine's own orders after a demo run."""

from __future__ import annotations

from collections import Counter

from eventsourcing.persistence import ApplicationRecorder

from engine.codec import decode
from engine.engine import Engine
from engine.events import (
    TOPIC_TYPES,
    CreditNoteIssued,
    OrderConfirmed,
    OrderPayload,
    OrderPlaced,
)
from projections.db import Database
from projections.orders import _CHANGES, Orders
from projections.queries import daily_revenue, order
from projections.runner import catch_up
from tests.projections.conftest import dump


def test_order_ledger_equals_the_engine(
    db: Database, demo_store: ApplicationRecorder, demo_engine: Engine
) -> None:
    catch_up(db, demo_store, [Orders()])

    rows = dump(db, "order_ledger")
    assert len(rows) == len(demo_engine.orders)
    statuses = Counter()
    for order_id, engine_order in demo_engine.orders.items():
        row = order(db, order_id)
        assert row is not None
        assert row.status == engine_order.status.value, order_id
        assert row.total_cents == engine_order.total_cents
        assert row.paid_cents == engine_order.paid_cents
        assert row.customer_id == engine_order.customer_id
        assert row.units_shipped == sum(engine_order.shipped.values())
        assert row.units_returned == sum(engine_order.returned.values())
        statuses[row.status] += 1
    # The demo reaches far into the life cycle, so the statuses above are a real check.
    assert len(statuses) >= 4
    assert order(db, "no-such-order") is None


def test_daily_revenue_adds_up_the_events(db: Database, demo_store: ApplicationRecorder) -> None:
    catch_up(db, demo_store, [Orders()])
    placed: Counter[str] = Counter()
    confirmed: Counter[str] = Counter()
    revenue: Counter[str] = Counter()
    credited: Counter[str] = Counter()
    for n in demo_store.select_notifications(None, 10**9):
        envelope = decode(n.state)
        day, data = envelope.timestamp.date().isoformat(), envelope.data
        if isinstance(data, OrderPlaced):
            placed[day] += 1
        elif isinstance(data, OrderConfirmed):
            confirmed[day] += 1
            revenue[day] += data.total_cents
        elif isinstance(data, CreditNoteIssued):
            credited[day] += data.amount_cents

    days = daily_revenue(db)

    assert {d.day: d.orders_placed for d in days} == dict(placed)
    assert {d.day: d.orders_confirmed for d in days if d.orders_confirmed} == dict(confirmed)
    assert {d.day: d.revenue_cents for d in days if d.revenue_cents} == dict(revenue)
    assert {d.day: d.credited_cents for d in days if d.credited_cents} == dict(credited)


def test_every_order_event_has_its_change() -> None:
    # The fold looks changes up by exact type: a payload type missing here would be skipped.
    order_events = {t for t in TOPIC_TYPES["orders"] if issubclass(t, OrderPayload)}
    assert {*_CHANGES, OrderPlaced} == order_events
