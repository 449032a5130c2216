"""The runner: checkpoints with their rows, idempotent replays, rebuilds that survive a cancel."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import msgspec
import pytest
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, Tracking

from engine.codec import encode
from engine.demo import run_demo
from engine.events import ClockAdvanced, new_envelope
from engine.simulator import SimulatorSettings
from engine.stock.events import StockAdjusted, StockReceived, StockRestocked, StockShipped
from engine.store import open_factory
from projections import PROJECTIONS, select
from projections.db import Database
from projections.inventory import Inventory
from projections.orders import Orders
from projections.projection import Positioned, Rows, Table
from projections.runner import (
    Checkpoints,
    _apply_batch,
    _decode_each,
    _live,
    catch_up,
    ensure_schema,
    follow,
    read_batches,
    rebuild,
    status,
)
from tests.projections.conftest import by_notifications, dump

_MOVEMENTS = (StockReceived, StockAdjusted, StockRestocked, StockShipped)


def _tables(db: Database) -> dict[str, list[tuple[object, ...]]]:
    return {t.name: dump(db, t.name) for p in select() for t in p.tables}


def _checkpoint(db: Database, name: str) -> int | None:
    with db.transaction():
        return Checkpoints(db, 0).max_tracking_id(name)


def test_catch_up_twice_applies_nothing_the_second_time(
    db: Database, demo_store: ApplicationRecorder
) -> None:
    assert catch_up(db, demo_store, select()) > 0
    before = _tables(db)

    assert catch_up(db, demo_store, select()) == 0
    assert _tables(db) == before


def test_events_at_or_below_the_checkpoint_change_nothing(
    db: Database, demo_store: ApplicationRecorder
) -> None:
    catch_up(db, demo_store, select(), events_max=500)
    before = _tables(db)
    head = demo_store.max_notification_id()
    # A second runner that read the store from the start applies all of it again.
    checkpoints = Checkpoints(db, 0)
    for last, batch, _ in read_batches(demo_store, 0, 700):
        with db.transaction():
            for projection in select():
                assert _apply_batch(db, checkpoints, _live(projection), last, batch) == 0
    assert _tables(db) == before
    assert _checkpoint(db, "orders") == head


def test_a_checkpoint_moves_only_forward(db: Database, demo_store: ApplicationRecorder) -> None:
    catch_up(db, demo_store, [Orders()])
    head = demo_store.max_notification_id()
    assert head is not None

    with pytest.raises(IntegrityError, match="already at or past"), db.transaction():
        Checkpoints(db, 0).insert_tracking(Tracking("orders", head - 1))
    assert _checkpoint(db, "orders") == head


class _Breaks(Inventory):
    """Inventory that fails while folding its second batch."""

    name: ClassVar[str] = "inventory"

    def __init__(self) -> None:
        self.folds = 0

    def fold(self, rows: Rows, events: Sequence[Positioned]) -> None:
        super().fold(rows, events)
        self.folds += 1
        if self.folds == 2:
            raise RuntimeError("the projection broke")


def test_rows_and_checkpoint_commit_together(db: Database, demo_store: ApplicationRecorder) -> None:
    store = by_notifications(demo_store)
    with pytest.raises(RuntimeError, match="the projection broke"):
        catch_up(db, store, [_Breaks()], events_max=1_000)
    first_last, first_batch, _ = next(read_batches(store, 0, 1_000))
    moved = sum(isinstance(e.data, _MOVEMENTS) for _, e in first_batch)

    # Exactly the first batch is in: its rows and its checkpoint, nothing of the second.
    assert _checkpoint(db, "inventory") == first_last
    assert len(dump(db, "stock_movements")) == moved
    catch_up(db, demo_store, [Inventory()])
    resumed = dump(db, "stock_movements")
    rebuild(db, demo_store, [Inventory()])
    assert dump(db, "stock_movements") == resumed


class _CancelledError(Exception):
    pass


def test_a_cancelled_rebuild_leaves_the_live_tables_and_a_retry_finishes(
    db: Database, demo_store: ApplicationRecorder
) -> None:
    catch_up(db, demo_store, select())
    live = _tables(db)
    seen = []

    def cancel(last: int) -> None:
        seen.append(last)
        if len(seen) == 2:
            raise _CancelledError

    with pytest.raises(_CancelledError):
        rebuild(db, by_notifications(demo_store), select(), events_max=800, progress=cancel)
    assert _tables(db) == live
    assert _checkpoint(db, "orders") == demo_store.max_notification_id()

    rebuild(db, demo_store, select(), events_max=800)
    assert _tables(db) == live
    assert _checkpoint(db, "orders__rebuild") is None
    # The indexes of the live tables are back after the swap, and a second rebuild works.
    rebuild(db, demo_store, select())
    assert _tables(db) == live


def test_a_rebuild_past_its_held_rows_goes_on_loading_them(
    db: Database, demo_store: ApplicationRecorder
) -> None:
    catch_up(db, demo_store, select())
    live = _tables(db)
    rebuild(db, by_notifications(demo_store), select(), events_max=800, held_rows_max=50)
    assert _tables(db) == live


def test_each_batch_is_read_once_when_the_store_ends_at_a_batch_end(
    demo_store: ApplicationRecorder,
) -> None:
    # A batch of one event ends at every commit, the store's last among them.
    lasts = [last for last, _, _ in read_batches(demo_store, 0, 1)]
    assert lasts == sorted(set(lasts))
    assert lasts[-1] == demo_store.max_notification_id()


def test_status_reports_the_lag(db: Database, tmp_path: Path) -> None:
    recorder = open_factory(f"sqlite:///{tmp_path}/store.db").application_recorder()
    run_demo(recorder, SimulatorSettings(orders=30, customers=5, skus=10))
    head = recorder.max_notification_id()
    assert head is not None

    assert [s.lag for s in status(db, recorder, select())] == [head] * len(PROJECTIONS)
    catch_up(db, recorder, [Orders()])
    lags = {s.projection: (s.checkpoint, s.lag) for s in status(db, recorder, select())}
    assert lags == {name: (0, head) for name in PROJECTIONS} | {"orders": (head, 0)}


def test_follow_keeps_up_with_a_running_engine(db_url: str, tmp_path: Path) -> None:
    """Section 7: projections applied while the engine runs equal a rebuild from zero."""
    recorder = open_factory(f"sqlite:///{tmp_path}/store.db").application_recorder()
    stop = threading.Event()
    errors: list[BaseException] = []

    def run_follow() -> None:
        try:
            with Database(db_url) as follower:
                follow(follower, recorder, select(), poll_s=0.01, stop=stop)
        except BaseException as error:
            errors.append(error)

    follower = threading.Thread(target=run_follow)
    follower.start()
    try:
        run_demo(recorder, SimulatorSettings(orders=300, customers=30, skus=20, seed=3))
    finally:
        stop.set()
        follower.join()
    assert not errors
    with Database(db_url) as db:
        catch_up(db, recorder, select())
        live = _tables(db)
        assert all(live.values())
        rebuild(db, recorder, select())
        assert _tables(db) == live


def test_every_table_is_declared_with_its_key_first() -> None:
    with pytest.raises(ValueError, match="key columns"):
        Table("t", (("a", "TEXT"), ("b", "TEXT")), key=("b",))


def test_an_envelope_the_fast_decoder_refuses_is_decoded_whole() -> None:
    # The store keeps ids as 16 bytes; one kept as text (another encoder) is still read.
    cause = uuid.uuid4()
    envelope = new_envelope(
        ClockAdvanced(now=60),
        stream_id="clock",
        version=1,
        timestamp=datetime(2026, 11, 27, 9, tzinfo=UTC),
        correlation_id=cause,
        causation_id=cause,
    )
    as_stored = encode(envelope)
    ids_as_text = msgspec.msgpack.encode(envelope)
    assert ids_as_text != as_stored

    fast, whole = _decode_each([as_stored, ids_as_text])

    assert fast == whole
    assert whole.causation_id == cause.bytes
    assert whole.data == ClockAdvanced(now=60)
    assert whole.timestamp == envelope.timestamp


def test_a_second_runner_waits_for_the_first_and_applies_only_what_is_left(
    db_url: str, demo_store: ApplicationRecorder
) -> None:
    """A runner that is mid-batch holds its checkpoint: a second runner of the same
    projection waits for its commit and then applies nothing the first applied
    (without the hold, on PostgreSQL, the second folded the same events again and
    failed on the checkpoint)."""
    head = demo_store.max_notification_id()
    assert head is not None
    claimed, release = threading.Event(), threading.Event()

    def first() -> None:
        with Database(db_url) as own, own.transaction():
            checkpoints = Checkpoints(own, 0)
            checkpoints.claim("orders")
            checkpoints.insert_tracking(Tracking("orders", head))
            claimed.set()
            assert release.wait(30)

    def second() -> None:
        with Database(db_url) as own:
            applied.append(catch_up(own, demo_store, [Orders()]))

    applied: list[int] = []
    with Database(db_url) as db:
        ensure_schema(db, [Orders()])
        holder = threading.Thread(target=first)
        holder.start()
        assert claimed.wait(30)
        runner = threading.Thread(target=second)
        runner.start()
        runner.join(0.5)
        assert runner.is_alive(), "the second runner went on while the first held its checkpoint"
        release.set()
        holder.join(30)
        runner.join(30)
        assert applied == [0]
        assert _checkpoint(db, "orders") == head
