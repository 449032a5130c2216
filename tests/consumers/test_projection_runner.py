"""The read models as a group member's work: a turn ends after a committed batch, and a group
of one catches every partition of a Kafka store up, as a runner per partition does."""

from __future__ import annotations

from pathlib import Path

import msgspec
from eventsourcing.persistence import ApplicationRecorder

from consumers.group import GroupRunner, GroupSettings
from consumers.projection_runner import ProjectionsWorker
from engine.commands import AnyCommand
from engine.engine import Engine, EngineSettings
from engine.store import open_factory
from projections import select
from projections.db import Database, connect
from projections.runner import catch_up, status
from tests.consumers.conftest import STORE_PARTITIONS, Json, KafkaStore, credit, place, slot
from tests.projections.conftest import dump

_commands = msgspec.json.Decoder(list[AnyCommand])


def orders(tag: str, count: int) -> list[Json]:
    placed = [place(f"o-{tag}-{n}", f"c-{tag}", f"sku-{tag}", 1 + n % 2) for n in range(count)]
    return [*slot(f"sku-{tag}", 1_000), credit(f"c-{tag}", 10_000_000), *placed]


def lags(db: Database, recorder: ApplicationRecorder) -> set[int]:
    return {s.lag for s in status(db, recorder, select())}


def tables(db: Database) -> dict[str, list[tuple[object, ...]]]:
    return {t.name: sorted(dump(db, t.name), key=repr) for p in select() for t in p.tables}


def test_a_turn_ends_after_the_batch_in_hand_and_the_next_goes_on_from_its_checkpoint(
    tmp_path: Path,
) -> None:
    factory = open_factory(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        recorder = factory.application_recorder()
        engine = Engine.open(recorder, EngineSettings(freeze_gc=False))
        for command in _commands.decode(msgspec.json.encode(orders("a", 4))):
            engine.submit([command])
        with connect(f"sqlite:///{tmp_path / 'readmodels.db'}") as db:
            worker = ProjectionsWorker(db, recorder, events_max=1)
            assert worker.run_while(lambda: False) == 1
            assert max(lags(db, recorder)) > 0
            assert worker.run_while(lambda: True) > 1
            assert lags(db, recorder) == {0}
            assert worker.run_while(lambda: True) == 0
    finally:
        factory.close()


def test_a_group_of_one_catches_up_every_partition_as_a_runner_per_partition_does(
    kafka_store: KafkaStore, tmp_path: Path
) -> None:
    for partition in range(STORE_PARTITIONS):
        kafka_store.submit(partition, orders(f"p{partition}", 5))
    lines: list[str] = []
    with connect(f"sqlite:///{tmp_path / 'grouped.db'}") as grouped:
        settings = GroupSettings(f"{kafka_store.prefix}projections")
        GroupRunner(
            kafka_store.url,
            settings,
            lambda recorder: ProjectionsWorker(grouped, recorder),
            out=lines.append,
        ).run(stop=None, poll_s=0.05)
        in_group = tables(grouped)
        with connect(f"sqlite:///{tmp_path / 'alone.db'}") as alone:
            for partition in range(STORE_PARTITIONS):
                factory = open_factory(kafka_store.at(partition))
                try:
                    recorder = factory.application_recorder()
                    catch_up(alone, recorder, select())
                    assert lags(grouped, recorder) == {0}
                finally:
                    factory.close()
            assert tables(alone) == in_group
    assert lines == [
        f"group {settings.group}: partitions 0, 1",
        f"group {settings.group}: partitions none",
    ]
    assert any(in_group.values())
