"""eventsourcing's own recorder test cases, run against the embedded store.

No test is overridden: the embedded store passes them as they ship.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    TrackingRecorder,
)
from eventsourcing.tests.persistence import (
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
    InfrastructureFactoryTestCase,
    NonInterleavingNotificationIDsBaseCase,
    ProcessRecorderTestCase,
    TrackingRecorderTestCase,
)
from eventsourcing.utils import Environment

from engine.store.sqlite import (
    SQLiteAggregateRecorder,
    SQLiteApplicationRecorder,
    SQLiteDatastore,
    SQLiteFactory,
    SQLiteProcessRecorder,
    SQLiteTrackingRecorder,
)


class _TempDatastore:
    """A fresh store file per test, closed and removed after it."""

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.datastore = SQLiteDatastore(str(Path(self._tmp.name) / "store.db"))
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        super().tearDown()  # type: ignore[misc]
        self.datastore.close()
        self._tmp.cleanup()


class TestAggregateRecorder(_TempDatastore, AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        recorder = SQLiteAggregateRecorder(self.datastore)
        recorder.create_table()
        return recorder


class TestApplicationRecorder(_TempDatastore, ApplicationRecorderTestCase[ApplicationRecorder]):
    def create_recorder(self) -> ApplicationRecorder:
        recorder = SQLiteApplicationRecorder(self.datastore)
        recorder.create_table()
        return recorder

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class TestNonInterleavingNotificationIDs(_TempDatastore, NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> ApplicationRecorder:
        recorder = SQLiteApplicationRecorder(self.datastore)
        recorder.create_table()
        return recorder


class TestTrackingRecorder(_TempDatastore, TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        recorder = SQLiteTrackingRecorder(self.datastore)
        recorder.create_table()
        return recorder


class TestProcessRecorder(_TempDatastore, ProcessRecorderTestCase):
    def create_recorder(self) -> ProcessRecorder:
        recorder = SQLiteProcessRecorder(self.datastore)
        recorder.create_table()
        return recorder


class _CustomTrackingRecorder(SQLiteTrackingRecorder):
    pass


class TestFactory(InfrastructureFactoryTestCase[SQLiteFactory]):
    def expected_factory_class(self) -> type[SQLiteFactory]:
        return SQLiteFactory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return SQLiteAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return SQLiteApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return SQLiteTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return _CustomTrackingRecorder

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return SQLiteProcessRecorder

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        env: dict[str, Any] = {
            "PERSISTENCE_MODULE": "engine.store.sqlite",
            "SQLITE_DBNAME": str(Path(self._tmp.name) / "store.db"),
        }
        self.env = Environment("TestCase", env)
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        self._tmp.cleanup()
