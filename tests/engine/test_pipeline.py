"""The pipeline: batches decided while the one before commits, with the events of plain submits."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from eventsourcing.persistence import InterfaceError, StoredEvent

from engine.codec import decode
from engine.commands import AnyCommand
from engine.engine import Answer, Engine, EngineBrokenError, EngineSettings
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
    with pytest.raises(InterfaceError):
        pipeline.submit(commands[2 * BATCH : 3 * BATCH])
    with pytest.raises(EngineBrokenError):
        pipeline.submit(commands[3 * BATCH :])
    assert stored(url) == landed


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
