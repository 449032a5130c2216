from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.persistence import ProcessRecorder

from engine.store import open_factory
from engine.store.sqlite import EVENTS_PER_COMMIT_MAX, SQLiteFactory
from tests.engine.store.contract import Backend, StoreContract


class SQLiteBackend(Backend):
    def __init__(self, path: Path) -> None:
        self.url = f"sqlite:///{path}"
        self.factories: list[SQLiteFactory] = []

    def open(self) -> ProcessRecorder:
        factory = open_factory(self.url)
        assert isinstance(factory, SQLiteFactory)
        self.factories.append(factory)
        return factory.process_recorder()

    def events_per_commit_max(self) -> int:
        return EVENTS_PER_COMMIT_MAX

    def close(self) -> None:
        for factory in self.factories:
            factory.close()


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[Backend]:
        backend = SQLiteBackend(tmp_path / "store.db")
        yield backend
        backend.close()
