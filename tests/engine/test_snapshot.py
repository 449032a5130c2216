"""Snapshots on a real engine and a real embedded store.

A restored engine must hold exactly what the live engine holds and what a
full replay (`Engine.open`) rebuilds: every slot of every order and account,
the stock core, the answers, the versions, the clock and the overdue heap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from eventsourcing.persistence import AggregateRecorder, IntegrityError

from engine import snapshot
from engine.credit import CreditAccount
from engine.engine import Engine, EngineSettings
from engine.events import Disposition, HoldReason
from engine.snapshot import FORMAT_VERSION, SnapshotError
from engine.store import open_factory
from tests.engine.conftest import (
    DAY_S,
    NOW,
    TTL_S,
    Shop,
    advance,
    cancel,
    capture,
    configure,
    deliver,
    line,
    pay,
    place,
    receive,
    return_lines,
    returned,
    review,
    set_limit,
    ship,
)

OVERDUE_AT = 30 * DAY_S + 1


def busy(shop: Shop) -> Shop:
    """Orders in every lasting status, accounts with open, paid and overdue invoices,
    confirmed and unconfirmed holds open, a retried command, invoices still due."""
    shop.submit(receive("A", "east", 100), set_limit("cv", 1_000, "net-10"))
    shop.submit(
        place("shipped", line("A", 2)),
        place("partial", line("A", 3), line("B", 1)),
        place("delivered", line("A", 1)),
        place("expired", line("A", 1), terms="prepaid"),
        place("cancelled", line("B", 1)),
        place("no-account", customer="nobody"),
        place("over-limit", line("A", 1, 20_000)),
    )
    shop.submit(
        ship("shipped", "s1", "east", ("A", 2)),
        ship("partial", "s1", "east", ("A", 3)),
        ship("delivered", "s1", "east", ("A", 1)),
        deliver("delivered", "s1"),
        cancel("cancelled"),
        return_lines("shipped", "r1", returned("A", 1, Disposition.RESTOCK)),
    )
    shop.submit(pay(50), advance(OVERDUE_AT))
    shop.submit(
        place("overdue-held"),
        place("band", line("A", 1, 1_050), customer="cv"),
        place("prepaid-held", line("A", 2), terms="prepaid"),
        place("prepaid-paid", line("A", 1), terms="prepaid"),
        place("approved", line("A", 1), customer="cv"),
        place("rejected-review", line("A", 1, 1_050), customer="cv"),
    )
    retried = capture("prepaid-paid", 100)
    shop.submit(retried, review("rejected-review", approve=False))
    shop.submit(retried, ship("approved", "s1", "east", ("A", 1)), pay(30, customer="cv"))
    return shop


def _settings() -> EngineSettings:
    return EngineSettings(hold_ttl_s=TTL_S, freeze_gc=False)


def fresh(shop: Shop) -> Engine:
    return Engine(shop.recorder, _settings(), clock=lambda: NOW)


def slots(obj: Any) -> dict[str, tuple[type, Any]]:
    """Every slot of an aggregate with the type of its value: a list where a
    tuple was, or a str where an enum was, is a difference too."""
    values = {name: getattr(obj, name) for name in type(obj).__slots__}
    return {name: (type(value), value) for name, value in values.items()}


def account_slots(account: CreditAccount) -> dict[str, tuple[type, Any]]:
    found = slots(account)
    invoices: list[tuple[str, dict[str, tuple[type, Any]]]] = [
        (key, slots(invoice)) for key, invoice in account.invoices.items()
    ]
    found["invoices"] = (dict, invoices)  # in order: payments settle the oldest first
    return found


def picture(engine: Engine) -> dict[str, Any]:
    """Everything the engine decides with, every slot of it, in order."""
    return {
        "core": engine.core.state(),
        "orders": [(key, slots(order)) for key, order in engine.orders.items()],
        "accounts": [(key, account_slots(a)) for key, a in engine.accounts.items()],
        "hold_orders": list(engine.hold_orders.items()),
        "answered": list(engine.answered.items()),
        "versions": list(engine._stamper.versions.items()),
        "now": engine.now,
        "due": pending(engine),
    }


def pending(engine: Engine) -> list[tuple[int, str, str]]:
    """The invoices by due time that can still be flagged overdue. A replay
    leaves invoices flagged overdue before in the schedule (the live engine
    took them); they are skipped when they come up, so only these count."""
    return sorted(
        (due_at, customer, invoice_id)
        for _, (due_at, customer, invoice_id) in engine._due
        if (invoice := engine.accounts[customer].invoices.get(invoice_id)) is not None
        and not invoice.overdue
    )


@pytest.fixture
def snapshots(shop: Shop) -> AggregateRecorder:
    return open_factory(shop.url).aggregate_recorder("snapshots")


# ---------------------------------------------------------------- the state


def test_the_history_covers_what_a_snapshot_must_carry(shop: Shop) -> None:
    engine = busy(shop).engine

    statuses = {key: order.status.value for key, order in engine.orders.items()}
    assert statuses == {
        "shipped": "shipped",
        "partial": "partially_shipped",
        "delivered": "delivered",
        "expired": "expired",
        "cancelled": "cancelled",
        "no-account": "rejected",
        "over-limit": "rejected",
        "overdue-held": "credit_held",
        "band": "credit_held",
        "prepaid-held": "credit_held",
        "prepaid-paid": "confirmed",
        "approved": "shipped",
        "rejected-review": "rejected",
    }
    assert engine.orders["overdue-held"].held_reason is HoldReason.OVERDUE
    assert engine.orders["prepaid-held"].held_reason is HoldReason.AWAITING_PAYMENT
    assert {h.confirmed for h in engine.core.state().holds} == {True, False}
    assert engine.accounts["cu"].overdue
    assert engine.accounts["cv"].invoices["approved/s1"].outstanding_cents == 70
    assert engine.accounts["cu"].approved
    assert engine._due
    assert engine.hold_orders


def test_restored_engine_has_the_live_engine_state(shop: Shop) -> None:
    live = busy(shop).engine

    restored = fresh(shop)
    covered = snapshot.restore(restored, snapshot.capture(live))

    assert covered == shop.notifications
    assert picture(restored) == picture(live)
    assert list(restored._due) == list(live._due)


def test_restored_engine_has_the_replayed_engine_state(shop: Shop) -> None:
    data = snapshot.capture(busy(shop).engine)

    restored = fresh(shop)
    snapshot.restore(restored, data)

    assert picture(restored) == picture(shop.reopen())


def test_restored_engine_goes_on_as_the_live_one_would(shop: Shop) -> None:
    busy(shop)
    restored = fresh(shop)
    snapshot.restore(restored, snapshot.capture(shop.engine))
    shop.engine = restored

    shop.submit(review("band", approve=True), capture("prepaid-held", 200))
    shop.submit(advance(OVERDUE_AT + TTL_S + 30 * DAY_S))

    assert picture(restored) == picture(shop.reopen())


def test_empty_engine_round_trips(empty_shop: Shop) -> None:
    restored = fresh(empty_shop)

    assert snapshot.restore(restored, snapshot.capture(empty_shop.engine)) == 0
    assert picture(restored) == picture(empty_shop.engine)


def test_restore_fills_only_a_fresh_engine(shop: Shop) -> None:
    with pytest.raises(ValueError, match="fresh Engine"):
        snapshot.restore(shop.engine, snapshot.capture(shop.engine))


# ---------------------------------------------------------------- the format


def test_an_unknown_format_version_is_refused(shop: Shop) -> None:
    data = snapshot.capture(shop.engine)
    items = msgspec.msgpack.decode(data)
    items[0] = FORMAT_VERSION + 1
    newer = msgspec.msgpack.encode(items)

    with pytest.raises(SnapshotError, match=rf"format version {FORMAT_VERSION + 1} is not"):
        snapshot.restore(fresh(shop), newer)


def test_bytes_that_are_no_snapshot_are_refused(shop: Shop) -> None:
    with pytest.raises(SnapshotError, match="not an engine snapshot"):
        snapshot.restore(fresh(shop), b"\x01\x02")


def test_a_snapshot_ahead_of_the_store_is_refused(shop: Shop, tmp_path: Path) -> None:
    other = Shop(tmp_path / "other.db")

    with pytest.raises(SnapshotError, match="another store"):
        snapshot.restore(fresh(other), snapshot.capture(shop.engine))


# ---------------------------------------------------------------- keeping them


def test_no_snapshot_saved_loads_none(snapshots: AggregateRecorder) -> None:
    assert snapshot.load_latest(snapshots) is None


def test_saved_snapshot_loads_back(shop: Shop, snapshots: AggregateRecorder) -> None:
    covered = snapshot.save(shop.engine, snapshots)

    data = snapshot.load_latest(snapshots)

    assert covered == shop.notifications
    assert data == snapshot.capture(shop.engine)


def test_the_newest_snapshot_is_loaded(shop: Shop, snapshots: AggregateRecorder) -> None:
    first = snapshot.save(shop.engine, snapshots)
    busy(shop)
    second = snapshot.save(shop.engine, snapshots)

    data = snapshot.load_latest(snapshots)
    assert data is not None
    restored = fresh(shop)

    assert first < second
    assert snapshot.restore(restored, data) == second
    assert picture(restored) == picture(shop.engine)


def test_saving_twice_at_one_notification_is_refused(
    shop: Shop, snapshots: AggregateRecorder
) -> None:
    covered = snapshot.save(shop.engine, snapshots)

    with pytest.raises(IntegrityError, match=f"covering notification {covered} or later"):
        snapshot.save(shop.engine, snapshots)


def test_the_engine_snapshots_as_it_goes_and_starts_from_the_newest(tmp_path: Path) -> None:
    factory = open_factory(f"sqlite:///{tmp_path / 'snap.db'}")
    recorder = factory.application_recorder()
    snapshots = factory.aggregate_recorder("snapshots")
    settings = EngineSettings(snapshot_every_events=20, freeze_gc=False)
    live = Engine.open(recorder, settings, snapshots=snapshots)
    live.submit([configure("A", "east"), receive("A", "east", 100), set_limit()])
    for n in range(12):
        live.submit([place(f"o{n}", line("A", 2))])
    saved = snapshots.select_events("engine")
    assert len(saved) >= 2
    assert saved[-1].originator_version <= recorder.max_notification_id()
    restarted = Engine.open(recorder, settings, snapshots=snapshots)
    replayed = Engine.open(recorder, settings)
    assert restarted.core.state() == replayed.core.state() == live.core.state()
    assert {k: o.status for k, o in restarted.orders.items()} == {
        k: o.status for k, o in replayed.orders.items()
    }
    assert restarted.answered == replayed.answered
    answer = restarted.submit([place("o99", line("A", 1))])[0]
    assert not answer.retry
