"""The store contract, run against the Kafka store.

Each `open` is a new factory from the store's URL. Within one process the
factories of one partition share its writer (two would fence each other), so
"a second writer" here is a second recorder on the same writer; writers in two
processes are the subject of `test_kafka_fencing`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.persistence import ProcessRecorder

from engine.kafka import Broker
from engine.store import open_factory
from engine.store.kafka import EVENTS_PER_COMMIT_MAX, KafkaFactory
from tests.engine.store.contract import Backend, StoreContract


class KafkaBackend(Backend):
    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.url = f"kafka://{bootstrap}?prefix={prefix}"
        self.factories: list[KafkaFactory] = []

    def open(self) -> ProcessRecorder:
        factory = open_factory(self.url)
        assert isinstance(factory, KafkaFactory)
        self.factories.append(factory)
        return factory.process_recorder()

    def events_per_commit_max(self) -> int:
        return EVENTS_PER_COMMIT_MAX

    def close(self) -> None:
        for factory in self.factories:
            factory.close()


class TestKafkaStore(StoreContract):
    @pytest.fixture
    def backend(self, kafka_broker: Broker, kafka_prefix: str) -> Iterator[Backend]:
        backend = KafkaBackend(kafka_broker.bootstrap, kafka_prefix)
        yield backend
        backend.close()
