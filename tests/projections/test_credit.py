"""Credit read models against the engine's credit accounts, at the end of a demo run and
at every batch along the way (the demo ends with every order settled, so the way there
is where the review queue and most of the exposure are).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from eventsourcing.persistence import ApplicationRecorder

from engine.codec import decode
from engine.credit import CreditAccount
from engine.engine import Engine
from engine.events import (
    CreditApproved,
    CreditHeld,
    CreditPayload,
    CreditRejected,
    CreditReviewDecided,
    HoldReason,
    OrderPayload,
    OrderPlaced,
    StreamEvent,
)
from engine.orders import Order, OrderStatus
from projections.credit import Credit
from projections.db import Database
from projections.projection import Projection
from projections.queries import credit_decisions, exposure, exposures, review_queue
from projections.runner import catch_up, rebuild
from tests.projections.conftest import by_notifications, dump

BATCH_EVENTS = 1_500


class EngineAt:
    """The engine's orders and accounts after the store's events up to a notification id,
    folded with the engine's own aggregates."""

    def __init__(self, store: ApplicationRecorder) -> None:
        self.events: list[tuple[int, StreamEvent]] = [
            (n.id, decode(n.state)) for n in store.select_notifications(None, 10**9)
        ]
        self.applied = 0
        self.orders: dict[str, Order] = {}
        self.accounts: dict[str, CreditAccount] = {}

    def upto(self, last: int) -> EngineAt:
        while self.applied < len(self.events) and self.events[self.applied][0] <= last:
            self._fold(self.events[self.applied][1].data)
            self.applied += 1
        return self

    def _fold(self, data: Any) -> None:
        if isinstance(data, OrderPlaced):
            self.orders[data.order_id] = Order(data)
        elif isinstance(data, OrderPayload) and data.order_id in self.orders:
            self.orders[data.order_id].apply(data)
        elif isinstance(data, CreditPayload):
            account = self.accounts.setdefault(data.customer_id, CreditAccount(data.customer_id))
            account.apply(data)


def replays_idempotently(db: Database, store: ApplicationRecorder, projection: Projection) -> None:
    """Applied again, the store changes nothing; rebuilt from zero, the tables are the same."""
    catch_up(db, store, [projection])
    live = {t.name: dump(db, t.name) for t in projection.tables}
    assert catch_up(db, store, [projection]) == 0
    rebuild(db, store, [projection], events_max=BATCH_EVENTS)
    assert {t.name: dump(db, t.name) for t in projection.tables} == live
    assert all(live.values())


def _exposure_of(account: CreditAccount) -> tuple[int, ...]:
    return (
        account.limit_cents,
        account.uninvoiced_cents,
        account.unpaid_cents,
        account.on_account_cents,
        account.exposure_cents,
        len(account.invoices),
        sum(i.overdue for i in account.invoices.values()),
    )


def _exposures(db: Database) -> Iterator[tuple[str, tuple[int, ...]]]:
    for e in exposures(db):
        yield (
            e.customer_id,
            (
                e.limit_cents,
                e.uninvoiced_cents,
                e.unpaid_cents,
                e.on_account_cents,
                e.exposure_cents,
                e.open_invoices,
                e.overdue_invoices,
            ),
        )


def test_exposure_equals_the_engines_accounts(
    db: Database, demo_store: ApplicationRecorder, demo_engine: Engine
) -> None:
    catch_up(db, demo_store, [Credit()])

    assert dict(_exposures(db)) == {
        customer_id: _exposure_of(account) for customer_id, account in demo_engine.accounts.items()
    }
    some = next(iter(demo_engine.accounts))
    found = exposure(db, some)
    assert found is not None
    assert found.payment_terms == demo_engine.accounts[some].payment_terms
    assert exposure(db, "no-such-customer") is None


def test_exposure_and_review_queue_follow_the_engine_batch_by_batch(
    db: Database, demo_store: ApplicationRecorder
) -> None:
    engine = EngineAt(demo_store)
    queued, exposed = Counter[str](), Counter[str]()

    def check(last: int) -> None:
        at = engine.upto(last)
        assert dict(_exposures(db)) == {c: _exposure_of(a) for c, a in at.accounts.items()}
        held = {
            o.order_id: o
            for o in at.orders.values()
            if o.status is OrderStatus.CREDIT_HELD
            and o.held_reason is not HoldReason.AWAITING_PAYMENT
        }
        queue = review_queue(db)
        assert {item.order_id for item in queue} == set(held)
        for item in queue:
            assert item.customer_id == held[item.order_id].customer_id
            assert item.amount_cents == held[item.order_id].total_cents
            assert item.reason == held[item.order_id].held_reason
        queued["cuts"] += bool(queue)
        exposed["cuts"] += any(a.exposure_cents for a in at.accounts.values())

    catch_up(db, by_notifications(demo_store), [Credit()], events_max=BATCH_EVENTS, progress=check)

    # Checked at several points where the queue and the exposure were not empty.
    assert queued["cuts"] >= 2
    assert exposed["cuts"] >= 2


def test_decisions_count_the_credit_events(db: Database, demo_store: ApplicationRecorder) -> None:
    catch_up(db, demo_store, [Credit()])
    expected: Counter[str] = Counter()
    for n in demo_store.select_notifications(None, 10**9):
        data = decode(n.state).data
        if isinstance(data, CreditApproved):
            expected["approved"] += 1
        elif isinstance(data, CreditHeld):
            expected["held"] += 1
        elif isinstance(data, CreditRejected):
            expected["rejected"] += 1
        elif isinstance(data, CreditReviewDecided):
            expected["review_approved" if data.approved else "review_rejected"] += 1

    decisions = credit_decisions(db)

    assert Counter(d.decision for d in decisions) == expected
    assert expected["held"]
    assert expected["review_approved"] + expected["review_rejected"]
    held = [d for d in decisions if d.decision == "held"]
    queue = {item.order_id: item for item in review_queue(db, status=None)}
    assert {d.order_id for d in held} == set(queue)
    assert all(queue[d.order_id].since == d.at for d in held)
    one = decisions[0].customer_id
    assert credit_decisions(db, customer_id=one) == [d for d in decisions if d.customer_id == one]


def test_replay_is_idempotent(db: Database, demo_store: ApplicationRecorder) -> None:
    replays_idempotently(db, demo_store, Credit())
