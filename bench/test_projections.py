"""Rebuilding every projection from the store: events per second, SQLite and PostgreSQL.

The store is a demo run (`engine.simulator`, the `stockledger demo` storefront)
on the embedded store, built once. Each round rebuilds all projections from
notification zero into fresh tables and swaps them in, as `stockledger project
rebuild all` does; the figure is the store's events over the median round.
SQLite is a file beside the store; PostgreSQL is the test cluster
(tests/postgres_fixtures.py), a database of its own.

With `--benchmark-disable` the store is small, so the file doubles as a fast test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from eventsourcing.persistence import ApplicationRecorder
from pytest_benchmark.fixture import BenchmarkFixture

from bench.conftest import Record, per_second
from engine.engine import Engine
from engine.simulator import SimulatorSettings, run
from engine.store import open_factory
from projections import select
from projections.db import Database
from projections.runner import rebuild, status

# (timed, with --benchmark-disable)
DEMO_ORDERS: Final = (20_000, 300)


@pytest.fixture(scope="module")
def demo_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApplicationRecorder, int]]:
    """(the store, its events) after a demo run."""
    disabled = bool(request.config.getoption("benchmark_disable"))
    orders = DEMO_ORDERS[1] if disabled else DEMO_ORDERS[0]
    url = f"sqlite:///{tmp_path_factory.mktemp('projections')}/store.db"
    factory = open_factory(url)
    recorder = factory.application_recorder()
    settings = SimulatorSettings(orders=orders, customers=max(20, orders // 25), skus=200)
    run(Engine.open(recorder), settings)
    yield recorder, recorder.max_notification_id() or 0
    factory.close()


def _rebuild_all(
    benchmark: BenchmarkFixture, db_url: str, store: tuple[ApplicationRecorder, int]
) -> float | None:
    recorder, events = store
    with Database(db_url) as db:
        benchmark.pedantic(rebuild, args=(db, recorder, select()), rounds=3, iterations=1)
        assert {s.lag for s in status(db, recorder, select())} == {0}
        assert db.execute("SELECT COUNT(*) FROM order_ledger")[0][0] > 0
    return per_second(benchmark, events)


def test_rebuild_all_sqlite(
    benchmark: BenchmarkFixture,
    demo_store: tuple[ApplicationRecorder, int],
    tmp_path: Path,
    figure: Record,
) -> None:
    benchmark.group = "projections: rebuild all from the store"
    rate = _rebuild_all(benchmark, f"sqlite:///{tmp_path}/readmodels.db", demo_store)
    if rate is not None:
        figure("rebuild all projections, SQLite", rate, "events/s", ">= 100,000")


def test_rebuild_all_postgresql(
    benchmark: BenchmarkFixture,
    demo_store: tuple[ApplicationRecorder, int],
    postgres_url: str,
    figure: Record,
) -> None:
    benchmark.group = "projections: rebuild all from the store"
    rate = _rebuild_all(benchmark, postgres_url, demo_store)
    if rate is not None:
        figure("rebuild all projections, PostgreSQL", rate, "events/s", "report")
