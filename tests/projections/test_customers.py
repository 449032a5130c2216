"""Customer read models against the engine's orders and the credit notes in the store."""

from __future__ import annotations

from collections import Counter

from eventsourcing.persistence import ApplicationRecorder

from engine.codec import decode
from engine.engine import Engine
from engine.events import CreditNoteIssued
from engine.orders import OrderStatus
from projections.customers import Customers
from projections.db import Database
from projections.queries import customer, customer_orders, customers
from projections.runner import catch_up
from tests.projections.test_credit import replays_idempotently

_LOST = {OrderStatus.REJECTED, OrderStatus.CANCELLED, OrderStatus.EXPIRED}
_OPEN = {OrderStatus.PLACED, OrderStatus.RESERVED, OrderStatus.CREDIT_HELD}


def test_customer_totals_equal_the_engine(
    db: Database, demo_store: ApplicationRecorder, demo_engine: Engine
) -> None:
    catch_up(db, demo_store, [Customers()])
    credited: Counter[str] = Counter()
    for n in demo_store.select_notifications(None, 10**9):
        data = decode(n.state).data
        if isinstance(data, CreditNoteIssued):
            credited[data.customer_id] += data.amount_cents
    expected: dict[str, Counter[str]] = {}
    for o in demo_engine.orders.values():
        totals = expected.setdefault(o.customer_id, Counter())
        totals["orders"] += 1
        totals["lost"] += o.status in _LOST
        kept = o.status not in _LOST | _OPEN
        totals["confirmed"] += kept
        totals["confirmed_cents"] += o.total_cents if kept else 0
        totals["shipped"] += sum(o.shipped.values())
        totals["returned"] += sum(o.returned.values())

    found = customers(db)

    assert {c.customer_id for c in found} == set(expected)
    for c in found:
        totals = expected[c.customer_id]
        assert (c.orders, c.orders_confirmed, c.orders_lost) == (
            totals["orders"],
            totals["confirmed"],
            totals["lost"],
        )
        assert (c.units_shipped, c.units_returned) == (totals["shipped"], totals["returned"])
        assert c.credited_cents == credited[c.customer_id]
        assert c.lifetime_value_cents == totals["confirmed_cents"] - credited[c.customer_id]
        if c.units_shipped:
            assert c.return_rate == c.units_returned / c.units_shipped
    assert sum(c.units_returned for c in found) > 0
    assert customer(db, found[0].customer_id) == found[0]
    assert customer(db, "no-such-customer") is None


def test_customer_history_lists_every_order(
    db: Database, demo_store: ApplicationRecorder, demo_engine: Engine
) -> None:
    catch_up(db, demo_store, [Customers()])
    one = next(iter(demo_engine.orders.values())).customer_id
    theirs = {o.order_id: o for o in demo_engine.orders.values() if o.customer_id == one}

    history = customer_orders(db, one)

    assert {h.order_id for h in history} == set(theirs)
    for h in history:
        assert h.total_cents == theirs[h.order_id].total_cents
        assert h.units_shipped == sum(theirs[h.order_id].shipped.values())
    assert [h.placed_at for h in history] == sorted(h.placed_at for h in history)
    assert customer_orders(db, one, limit=1, offset=1) == history[1:2]


def test_replay_is_idempotent(db: Database, demo_store: ApplicationRecorder) -> None:
    replays_idempotently(db, demo_store, Customers())
