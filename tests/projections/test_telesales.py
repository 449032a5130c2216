"""The telesales call list against the engine's orders, at the end of a demo run and
batch by batch along the way (held orders are all settled by the end)."""

from __future__ import annotations

from collections import Counter

from eventsourcing.persistence import ApplicationRecorder

from engine.engine import Engine
from engine.orders import Order, OrderStatus
from projections.db import Database
from projections.queries import call_list
from projections.runner import catch_up
from projections.telesales import Telesales
from tests.projections.conftest import by_notifications
from tests.projections.test_credit import BATCH_EVENTS, EngineAt, replays_idempotently

_CALLS = {OrderStatus.CREDIT_HELD: "credit_held", OrderStatus.EXPIRED: "expired"}


def _calls(orders: dict[str, Order]) -> dict[str, tuple[str, str, int]]:
    """order id -> (reason, customer, value) of the orders a call may save."""
    return {
        o.order_id: (_CALLS[o.status], o.customer_id, o.total_cents)
        for o in orders.values()
        if o.status in _CALLS
    }


def _listed(db: Database) -> dict[str, tuple[str, str, int]]:
    return {c.order_id: (c.reason, c.customer_id, c.value_cents) for c in call_list(db)}


def test_call_list_follows_the_engine_batch_by_batch(
    db: Database, demo_store: ApplicationRecorder
) -> None:
    engine = EngineAt(demo_store)
    seen: Counter[str] = Counter()

    def check(last: int) -> None:
        orders = engine.upto(last).orders
        expected = _calls(orders)
        assert _listed(db) == expected
        for call in call_list(db, reason="credit_held"):
            assert call.held_reason == orders[call.order_id].held_reason
        seen["held"] += any(reason == "credit_held" for reason, _, _ in expected.values())

    catch_up(
        db, by_notifications(demo_store), [Telesales()], events_max=BATCH_EVENTS, progress=check
    )

    assert seen["held"] >= 2


def test_call_list_equals_the_engine_after_the_run(
    db: Database, demo_store: ApplicationRecorder, demo_engine: Engine
) -> None:
    catch_up(db, demo_store, [Telesales()])

    assert _listed(db) == _calls(demo_engine.orders)
    assert call_list(db, reason="expired")
    one = call_list(db)[0].customer_id
    assert call_list(db, customer_id=one) == [c for c in call_list(db) if c.customer_id == one]
    assert call_list(db, limit=2, offset=1) == call_list(db)[1:3]


def test_replay_is_idempotent(db: Database, demo_store: ApplicationRecorder) -> None:
    replays_idempotently(db, demo_store, Telesales())
