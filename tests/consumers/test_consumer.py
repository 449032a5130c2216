"""Two runners of one consumer on one partition: the batch that loses the race writes nothing.

This is what a group member presumed dead meets when it wakes up mid-batch:
its partition went to another member, which handled the same events. Here
the race is made deterministic: the first runner, while handling its batch,
lets the second catch up completely before it commits.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import msgspec
import pytest
from eventsourcing.persistence import ApplicationRecorder

from consumers.consumer import Consumer, Effects, Runner
from engine.commands import AnyCommand
from engine.engine import Engine, EngineSettings
from engine.events import StreamEvent
from engine.store import open_factory
from projections.db import Database, connect
from tests.consumers.conftest import credit, place, slot

_commands = msgspec.json.Decoder(list[AnyCommand])


class Recording(Consumer):
    """A row per event handled (a plain insert: a second handling fails its batch);
    on its first event, `meanwhile` runs once."""

    name: ClassVar[str] = "recording"

    def __init__(self, member: str) -> None:
        self.member = member
        self.meanwhile: Runner | None = None

    def ensure_schema(self, db: Database) -> None:
        with db.transaction():
            db.execute(
                "CREATE TABLE IF NOT EXISTS handled (stream_id TEXT NOT NULL, "
                "version BIGINT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (stream_id, version))"
            )

    def handle(self, db: Database, event: StreamEvent) -> Effects:
        if self.meanwhile is not None:
            other, self.meanwhile = self.meanwhile, None
            other.catch_up()
        row = (event.stream_id, event.version, self.member)
        return Effects(writes=[("INSERT INTO handled VALUES (?, ?, ?)", row)])


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'readmodels.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def _place(recorder: ApplicationRecorder, first: int, count: int) -> None:
    engine = Engine.open(recorder, EngineSettings(freeze_gc=False))
    orders = [place(f"o-{n}", "c1", "sku-a", 1) for n in range(first, first + count)]
    setup = [*slot("sku-a", 1_000), credit("c1", 10_000_000)] if first == 0 else []
    engine.submit(_commands.decode(msgspec.json.encode([*setup, *orders])))


@pytest.mark.parametrize("head_start", [False, True], ids=["from-zero", "from-a-checkpoint"])
def test_the_runner_that_loses_the_race_for_a_batch_drops_it(
    db_url: str, tmp_path: Path, head_start: bool
) -> None:
    factory = open_factory(f"sqlite:///{tmp_path / 'store.db'}")
    recorder = factory.application_recorder()
    lines: list[str] = []
    try:
        with connect(db_url) as first_db, connect(db_url) as second_db:
            late = Recording("late")
            late_runner = Runner(late, first_db, recorder, None, out=lines.append)
            first_runner = Runner(Recording("first"), second_db, recorder, None)
            if head_start:
                _place(recorder, 0, 2)
                first_runner.catch_up()
            start = late_runner.checkpoint
            _place(recorder, 2 if head_start else 0, 3)
            late.meanwhile = first_runner
            late_runner.catch_up()
            rows = first_db.execute("SELECT stream_id, version, member FROM handled")
            head = recorder.max_notification_id()
            assert late_runner.checkpoint == head
    finally:
        factory.close()
    assert {member for _, _, member in rows} == {"first"}
    assert len(rows) == len({(stream, version) for stream, version, _ in rows})
    assert lines == [
        f"recording: partition 0: another runner moved the checkpoint past {start}; "
        f"batch {start + 1}-{head} dropped"
    ]
