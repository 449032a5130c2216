"""eventsourcing's own recorder test cases, run against the Kafka store.

Each test gets topics of its own (a fresh prefix) on the session's broker.

No test is overridden: the Kafka store passes them as they ship. Their
`test_concurrent_*` cases write from many threads at once; the store
serialises them through the partition's single writer, as it must.
"""

from __future__ import annotations

from typing import Any

import pytest
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

from engine.kafka import Broker
from engine.store.kafka import (
    KafkaAggregateRecorder,
    KafkaApplicationRecorder,
    KafkaDatastore,
    KafkaFactory,
    KafkaProcessRecorder,
    KafkaSettings,
    KafkaTrackingRecorder,
)


class _FreshTopics:
    """A datastore on topics no other test uses, closed after the test."""

    settings: KafkaSettings

    @pytest.fixture(autouse=True)
    def _topics(self, kafka_broker: Broker, kafka_prefix: str) -> None:
        self.settings = KafkaSettings(kafka_broker.bootstrap, prefix=kafka_prefix)

    def setUp(self) -> None:
        self.datastore = KafkaDatastore(self.settings)
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        super().tearDown()  # type: ignore[misc]
        self.datastore.close()


class TestAggregateRecorder(_FreshTopics, AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        recorder = KafkaAggregateRecorder(self.datastore)
        recorder.create_table()
        return recorder


class TestSnapshotRecorder(_FreshTopics, AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        recorder = KafkaAggregateRecorder(self.datastore, "snapshots")
        recorder.create_table()
        return recorder


class TestApplicationRecorder(_FreshTopics, ApplicationRecorderTestCase[ApplicationRecorder]):
    def create_recorder(self) -> ApplicationRecorder:
        recorder = KafkaApplicationRecorder(self.datastore)
        recorder.create_table()
        return recorder

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class TestNonInterleavingNotificationIDs(_FreshTopics, NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> ApplicationRecorder:
        recorder = KafkaApplicationRecorder(self.datastore)
        recorder.create_table()
        return recorder


class TestTrackingRecorder(_FreshTopics, TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        recorder = KafkaTrackingRecorder(self.datastore)
        recorder.create_table()
        return recorder


class TestProcessRecorder(_FreshTopics, ProcessRecorderTestCase):
    def create_recorder(self) -> ProcessRecorder:
        recorder = KafkaProcessRecorder(self.datastore)
        recorder.create_table()
        return recorder


class _CustomTrackingRecorder(KafkaTrackingRecorder):
    pass


class TestFactory(InfrastructureFactoryTestCase[KafkaFactory]):
    @pytest.fixture(autouse=True)
    def _topics(self, kafka_broker: Broker, kafka_prefix: str) -> None:
        env: dict[str, Any] = {
            "PERSISTENCE_MODULE": "engine.store.kafka",
            "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap,
            "KAFKA_TOPIC_PREFIX": kafka_prefix,
        }
        self.env = Environment("TestCase", env)

    def expected_factory_class(self) -> type[KafkaFactory]:
        return KafkaFactory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return KafkaAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return KafkaApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return KafkaTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return _CustomTrackingRecorder

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return KafkaProcessRecorder
