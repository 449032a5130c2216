"""A writer and a reader of one Kafka store in one process share its indexes.

A commit is readable once its transaction commits, before the writer's thread
takes the indexes' lock to list it: a reader's tail (a consumer, a projection,
`history` beside the engine) may list it first. It must be listed once, and
the writer go on. Each test makes that interleaving happen every time, by
tailing between the transaction and the writer's own listing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.kafka import Broker
from engine.store.kafka import (
    KafkaAggregateRecorder,
    KafkaApplicationRecorder,
    KafkaDatastore,
    KafkaSettings,
)
from tests.engine.store.contract import all_notifications, event, stream


@pytest.fixture
def datastore(kafka_broker: Broker, kafka_prefix: str) -> Iterator[KafkaDatastore]:
    datastore = KafkaDatastore(KafkaSettings(kafka_broker.bootstrap, prefix=kafka_prefix))
    yield datastore
    datastore.close()


def test_a_commit_tailed_before_its_writer_lists_it_is_listed_once(
    datastore: KafkaDatastore,
) -> None:
    recorder = KafkaApplicationRecorder(datastore)
    recorder.create_table()
    log = datastore.events
    own = log._apply_own

    def tailed_first(*args: object) -> None:
        log.catch_up()
        own(*args)  # type: ignore[arg-type]

    log._apply_own = tailed_first  # type: ignore[method-assign]
    # Two topics, so the commit is two records that the tail puts together.
    assert recorder.insert_events(
        [event("sku-a@w1", 1), event("o-1", 1, "orders:OrderPlaced"), event("sku-a@w1", 2)]
    ) == [1, 2, 3]
    assert recorder.insert_events([event("o-1", 2, "orders:OrderPlaced")]) == [4]

    assert all_notifications(recorder) == [
        (1, "sku-a@w1", 1),
        (2, "o-1", 1),
        (3, "sku-a@w1", 2),
        (4, "o-1", 2),
    ]
    assert [first for first, _ in recorder.read_commits()] == [1, 4]
    assert recorder.max_notification_id() == 4


def test_a_snapshot_tailed_before_its_writer_lists_it_is_listed_once(
    datastore: KafkaDatastore,
) -> None:
    snapshots = KafkaAggregateRecorder(datastore, "snapshots")
    snapshots.create_table()
    log = datastore.log_for("snapshots")
    transact = datastore.transact

    def tailed_after(*args: object) -> list[int]:
        offsets = transact(*args)  # type: ignore[arg-type]
        log.catch_up()
        return offsets

    datastore.transact = tailed_after  # type: ignore[method-assign]
    snapshots.insert_events([event("sku-a@w1", 5, "Snapshot"), event("sku-b@w1", 7, "Snapshot")])
    snapshots.insert_events([event("sku-a@w1", 9, "Snapshot")])

    assert stream(snapshots, "sku-a@w1") == [("sku-a@w1", 5), ("sku-a@w1", 9)]  # type: ignore[arg-type]
    assert stream(snapshots, "sku-b@w1") == [("sku-b@w1", 7)]  # type: ignore[arg-type]
