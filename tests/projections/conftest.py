"""A demo store, and a read-model database on each SQL backend.

`demo_store` is made once per session (a seeded storefront of a few hundred
orders on the embedded store); tests only read it. `db` is a fresh read-model
database, once on SQLite and once on PostgreSQL (a real cluster, see
tests/postgres_fixtures.py): every test that takes it runs on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from eventsourcing.persistence import ApplicationRecorder

from engine.demo import run_demo
from engine.engine import Engine, EngineSettings
from engine.simulator import SimulatorSettings
from engine.store import open_factory
from projections.db import Database, connect

DEMO = SimulatorSettings(orders=400, customers=40, skus=30, seed=7)


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> ApplicationRecorder:
    path = tmp_path_factory.mktemp("demo") / "store.db"
    recorder = open_factory(f"sqlite:///{path}").application_recorder()
    summary = run_demo(recorder, DEMO)
    assert summary.report.violation is None
    return recorder


@pytest.fixture(scope="session")
def demo_engine(demo_store: ApplicationRecorder) -> Engine:
    """The engine's own state after the demo, recovered from the store."""
    return Engine.open(demo_store, EngineSettings(freeze_gc=False))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/readmodels.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    with connect(db_url) as database:
        yield database


def dump(db: Database, table: str) -> list[tuple[Any, ...]]:
    """Every row of `table`, in key order, as plain tuples."""
    return [tuple(row) for row in db.execute(f"SELECT * FROM {table} ORDER BY 1, 2")]


class NotificationsOnly:
    """A store through eventsourcing's notification interface alone, as the runner
    reads a recorder that does not say where commits begin: in pages of
    notifications, which may cut a commit. Tests that check a read model batch by
    batch read so, for batches of the size they ask whatever the engine's commits."""

    def __init__(self, store: ApplicationRecorder) -> None:
        self.store = store

    def select_notifications(self, *args: Any, **kwargs: Any) -> Any:
        return self.store.select_notifications(*args, **kwargs)

    def max_notification_id(self) -> int | None:
        return self.store.max_notification_id()


def by_notifications(store: ApplicationRecorder) -> ApplicationRecorder:
    return cast(ApplicationRecorder, NotificationsOnly(store))
