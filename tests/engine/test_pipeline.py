"""The pipeline: batches decided while the one before commits, with the events of plain submits."""

from __future__ import annotations

import gc
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import msgspec
import pytest
from eventsourcing.persistence import InterfaceError, StoredEvent, Tracking

from engine.codec import decode
from engine.commands import AnyCommand
from engine.engine import Answer, Engine, EngineBrokenError, EngineSettings, Pipeline
from engine.events import Envelope
from engine.snapshot import SNAPSHOT_STREAM, SNAPSHOT_TOPIC
from engine.store import open_factory
from tests.engine.test_engine_crash import workload
from tests.engine.test_snapshot import picture

BATCH = 40


def stored(url: str) -> list[tuple[str, int, str, str, bytes]]:
    factory = open_factory(url)
    try:
        return [
            (e.stream_id, e.version, n.topic, str(e.causation_id), msgspec.msgpack.encode(e.data))
            for n in factory.application_recorder().select_notifications(None, 10**7)
            for e in [decode(n.state)]
        ]
    finally:
        factory.close()


def batches(commands: list[AnyCommand]) -> list[list[AnyCommand]]:
    return [commands[i : i + BATCH] for i in range(0, len(commands), BATCH)]


def answers_of(answers: list[Answer]) -> list[tuple[str, bool, list[bytes]]]:
    return [
        (a.command_id, a.retry, [msgspec.msgpack.encode(e.data) for e in a.events]) for a in answers
    ]


def test_a_pipeline_writes_and_answers_what_plain_submits_do(tmp_path: Path) -> None:
    commands = workload(seed=21, orders=600)
    plain_url, piped_url = (f"sqlite:///{tmp_path / name}" for name in ("plain.db", "piped.db"))
    plain = Engine.open(open_factory(plain_url).application_recorder())
    plain_answers = [a for batch in batches(commands) for a in plain.submit(batch)]

    piped = Engine.open(open_factory(piped_url).application_recorder())
    with piped.pipeline() as pipeline:
        piped_answers = [a for batch in batches(commands) for a in pipeline.submit(batch)]

    assert answers_of(piped_answers) == answers_of(plain_answers)
    assert stored(piped_url) == stored(plain_url)
    assert picture(piped) == picture(plain)


def test_a_command_resent_while_its_batch_commits_is_answered_as_a_retry(
    tmp_path: Path,
) -> None:
    commands = workload(seed=22, orders=30)
    first, second = commands[:BATCH], commands[BATCH : 2 * BATCH]
    resent = [first[-1], *second, second[0]]
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = Engine.open(open_factory(url).application_recorder())
    with engine.pipeline() as pipeline:
        told = pipeline.submit(first)
        again = pipeline.submit(resent)

    assert again[0].retry
    assert again[0].events == told[-1].events
    assert again[-1].retry
    assert again[-1].events == again[1].events
    assert not any(a.retry for a in again[1:-1])
    events = [e for a in told + again[1:-1] for e in a.events]
    assert [e.event_id for e in decode_all(url)] == [e.event_id for e in events]


def decode_all(url: str) -> list[Envelope]:
    factory = open_factory(url)
    try:
        return [
            decode(n.state)
            for n in factory.application_recorder().select_notifications(None, 10**7)
        ]
    finally:
        factory.close()


def test_a_failed_commit_breaks_the_engine_and_nothing_after_it_lands(tmp_path: Path) -> None:
    commands = workload(seed=23, orders=100)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    factory = open_factory(url)
    engine = Engine.open(factory.application_recorder())
    pipeline = engine.pipeline()
    pipeline.submit(commands[:BATCH])
    pipeline.flush()
    landed = stored(url)
    factory.close()  # the store goes away under the engine: the next commit fails
    pipeline.submit(commands[BATCH : 2 * BATCH])

    def submit_then_flush() -> None:
        pipeline.submit(commands[2 * BATCH : 3 * BATCH])
        pipeline.flush()

    # Raised by whichever call finds the commit failed: at the latest, flush.
    with pytest.raises(InterfaceError):
        submit_then_flush()
    with pytest.raises(EngineBrokenError):
        pipeline.submit(commands[3 * BATCH :])
    with pytest.raises(EngineBrokenError):
        pipeline.flush()
    assert stored(url) == landed


def commits_in(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM stored_events_commits").fetchone()[0])


def test_batches_queued_while_the_writer_is_busy_share_one_commit(tmp_path: Path) -> None:
    commands = workload(seed=26, orders=300)
    path = tmp_path / "store.db"
    recorder = open_factory(f"sqlite:///{path}").application_recorder()
    engine = Engine.open(recorder)
    parts = batches(commands)
    assert len(parts) >= 4
    # Holding the store's write lock keeps the first commit waiting in the
    # writer, so every later batch queues behind it (the lock is let go first).
    with engine.pipeline() as pipeline, recorder.datastore.write_lock:
        answers = [a for batch in parts for a in pipeline.submit(batch)]
        assert commits_in(path) == 0
    assert commits_in(path) == 2
    assert [e.event_id for e in decode_all(f"sqlite:///{path}")] == [
        e.event_id for a in answers for e in a.events
    ]


def test_a_batch_with_commit_options_is_committed_on_its_own(tmp_path: Path) -> None:
    commands = workload(seed=27, orders=200)
    path = tmp_path / "store.db"
    recorder = open_factory(f"sqlite:///{path}").process_recorder()
    engine = Engine.open(recorder)
    first, second, third, fourth = batches(commands)[:4]
    with engine.pipeline() as pipeline, recorder.datastore.write_lock:
        for batch in (first, second):
            pipeline.submit(batch)
        pipeline.submit(third, tracking=Tracking("upstream", 7))
        pipeline.submit(fourth)
    # first alone (in flight), second (stops at third's options), third, fourth
    assert commits_in(path) == 4
    assert recorder.max_tracking_id("upstream") == 7


def test_submit_waits_for_the_writer_past_the_events_it_may_queue(tmp_path: Path) -> None:
    commands = workload(seed=28, orders=300)
    path = tmp_path / "store.db"
    recorder = open_factory(f"sqlite:///{path}").application_recorder()
    engine = Engine.open(recorder)
    parts = batches(commands)
    pipeline = Pipeline(engine, group_events_max=1)
    submitted = threading.Event()

    def submit_all() -> None:
        for batch in parts[:3]:
            pipeline.submit(batch)
        submitted.set()

    with recorder.datastore.write_lock:
        thread = threading.Thread(target=submit_all)
        thread.start()
        # The first batch is in flight and the second queued past the bound:
        # its submit waits for the writer, which waits for the lock.
        assert not submitted.wait(0.3)
    assert submitted.wait(30)
    thread.join()
    pipeline.flush()
    assert commits_in(path) == 3
    with pytest.raises(ValueError, match="group_events_max is 0"):
        Pipeline(engine, group_events_max=0)


def test_snapshots_taken_in_a_pipeline_restore_the_state_a_replay_gives(tmp_path: Path) -> None:
    commands = workload(seed=24, orders=400)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    factory = open_factory(url)
    settings = EngineSettings(snapshot_every_events=500)
    snapshots = factory.aggregate_recorder("snapshots")
    engine = Engine.open(factory.application_recorder(), settings, snapshots=snapshots)
    with engine.pipeline() as pipeline:
        for batch in batches(commands):
            pipeline.submit(batch)
    assert engine._snapshot_at > 0

    from_snapshot = Engine.open(factory.application_recorder(), settings, snapshots=snapshots)
    replayed = Engine.open(factory.application_recorder(), settings)
    assert from_snapshot._snapshot_at == engine._snapshot_at
    assert picture(from_snapshot) == picture(replayed) == picture(engine)


def test_a_snapshot_the_store_refuses_is_logged_and_the_batch_stands(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    commands = workload(seed=25, orders=100)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    factory = open_factory(url)
    settings = EngineSettings(snapshot_every_events=50)
    snapshots = factory.aggregate_recorder("snapshots")
    engine = Engine.open(factory.application_recorder(), settings, snapshots=snapshots)
    # A snapshot already saved past any position this run reaches: every save clashes.
    snapshots.insert_events([StoredEvent(SNAPSHOT_STREAM, 10**9, SNAPSHOT_TOPIC, b"")])

    answers = [a for batch in batches(commands) for a in engine.submit(batch)]

    assert len(answers) == len(commands)
    assert len(stored(url)) == sum(len(a.events) for a in answers)
    refused = [r for r in caplog.records if "not saved" in r.getMessage()]
    assert refused
    assert all(r.levelname == "WARNING" for r in refused)


def test_with_freeze_gc_a_batch_is_frozen_before_the_collector_runs_again(
    tmp_path: Path,
) -> None:
    # Otherwise the collector's first pass after the batch scans all it built.
    engine = Engine.open(open_factory(f"sqlite:///{tmp_path / 's.db'}").application_recorder())
    first, second = batches(workload(seed=3, orders=80))[:2]
    try:
        with engine.pipeline() as pipeline:
            piped = pipeline.submit(first)
            assert gc.isenabled()
            scanned = {id(o) for o in gc.get_objects()}
            assert id(piped) not in scanned
            assert not scanned & {id(a) for a in piped}
        plain = engine.submit(second)
        assert gc.isenabled()
        assert id(plain) not in {id(o) for o in gc.get_objects()}
    finally:
        gc.unfreeze()
