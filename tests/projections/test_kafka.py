"""Section 7 on the Kafka store: after a demo run, the projections equal a rebuild from zero.

The demo writes to a real broker (tests/kafka_fixtures.py), on partition 1 of
two, so a checkpoint kept at the wrong partition shows; the runner reads the
Kafka recorder into each SQL backend (`db_url`). A rebuild from notification
zero, in place and into a SQLite database of its own, must give the same rows,
table for table. Rows are compared sorted whole: `dump` orders by the first two
columns only, and the backends break its ties differently.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.persistence import ApplicationRecorder
from typer.testing import CliRunner

from engine.cli import app
from engine.commands import ConfigureSlot, ReceiveStock
from engine.demo import run_demo
from engine.engine import Engine, EngineSettings
from engine.kafka import Broker
from engine.simulator import SimulatorSettings
from engine.store import open_factory
from projections import select
from projections.db import Database
from projections.runner import catch_up, partition_of, rebuild
from tests.projections.conftest import dump

DEMO = SimulatorSettings(orders=120, customers=15, skus=12, seed=5)
PARTITION = 1


@pytest.fixture
def kafka_url(kafka_broker: Broker, kafka_prefix: str) -> str:
    return f"kafka://{kafka_broker.bootstrap}?prefix={kafka_prefix}&partition={PARTITION}"


@pytest.fixture
def kafka_store(kafka_url: str) -> Iterator[ApplicationRecorder]:
    """A Kafka store holding one demo run, verified."""
    factory = open_factory(kafka_url)
    try:
        recorder = factory.application_recorder()
        summary = run_demo(recorder, DEMO)
        assert summary.report.violation is None
        yield recorder
    finally:
        factory.close()


def _row_order(row: tuple[object, ...]) -> list[tuple[bool, object]]:
    return [(value is None, value) for value in row]


def _tables(db: Database) -> dict[str, list[tuple[object, ...]]]:
    return {t.name: sorted(dump(db, t.name), key=_row_order) for p in select() for t in p.tables}


def _status(where: list[str]) -> set[tuple[int, int]]:
    """Every projection's (partition, lag), as `stockledger project status` reports them."""
    result = CliRunner().invoke(app, ["project", "status", "--json", *where])
    assert result.exit_code == 0, result.output
    return {(row["partition"], row["lag"]) for row in json.loads(result.output)}


def test_projections_after_a_demo_equal_a_rebuild_from_zero(
    kafka_store: ApplicationRecorder, db_url: str, tmp_path: Path
) -> None:
    with Database(db_url) as db:
        assert catch_up(db, kafka_store, select()) > 0
        live = _tables(db)
    assert all(live.values()), [name for name, rows in live.items() if not rows]

    with Database(f"sqlite:///{tmp_path}/rebuilt.db") as fresh:
        rebuild(fresh, kafka_store, select())
        assert _tables(fresh) == live
    with Database(db_url) as db:
        rebuild(db, kafka_store, select())
        assert _tables(db) == live


def test_status_lag_is_zero_after_catch_up_then_the_new_events(
    kafka_store: ApplicationRecorder, kafka_url: str, db_url: str
) -> None:
    where = ["--store", kafka_url, "--db", db_url]
    head = kafka_store.max_notification_id()
    assert head is not None
    assert partition_of(kafka_store) == PARTITION
    assert _status(where) == {(PARTITION, head)}

    with Database(db_url) as db:
        catch_up(db, kafka_store, select())
    assert _status(where) == {(PARTITION, 0)}

    engine = Engine.open(kafka_store, EngineSettings(freeze_gc=False))
    engine.submit(
        [
            ConfigureSlot(command_id="lag-cfg", sku="lag-sku", location="lag-dc"),
            ReceiveStock(
                command_id="lag-rcv", sku="lag-sku", location="lag-dc", quantity=5, reference="r"
            ),
        ]
    )
    new = (kafka_store.max_notification_id() or 0) - head
    assert new > 0
    assert _status(where) == {(PARTITION, new)}
    with Database(db_url) as db:
        assert catch_up(db, kafka_store, select()) > 0
    assert _status(where) == {(PARTITION, 0)}
