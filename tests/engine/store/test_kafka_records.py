"""What the Kafka store puts on its topics, its limits, and its URL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import quote
from uuid import UUID

import msgspec
import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import DataError, InterfaceError, StoredEvent
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic

from engine.kafka import Broker
from engine.store import StoreURLError, kafka_environment, open_factory
from engine.store.kafka import (
    COMMIT_HEADER,
    RECORD_BYTES_MAX,
    KafkaDatastore,
    KafkaProcessRecorder,
    KafkaSettings,
)
from engine.store.packing import Commit
from tests.engine.store.contract import all_notifications, event
from tests.engine.store.test_eventsourcing_application import Shelf, Shelves


@pytest.fixture
def settings(kafka_broker: Broker, kafka_prefix: str) -> KafkaSettings:
    return KafkaSettings(kafka_broker.bootstrap, prefix=kafka_prefix)


@pytest.fixture
def recorder(settings: KafkaSettings) -> Iterator[KafkaProcessRecorder]:
    datastore = KafkaDatastore(settings)
    recorder = KafkaProcessRecorder(datastore)
    recorder.create_table()
    yield recorder
    datastore.close()


Record = tuple[bytes | None, bytes, dict[str, bytes]]


def records(settings: KafkaSettings, name: str) -> list[Record]:
    """(key, value, headers) of every committed record of one of the store's topics."""
    tp = TopicPartition(settings.topic(name), settings.partition)
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        isolation_level="read_committed",
        enable_auto_commit=False,
        fetch_max_wait_ms=5,
    )
    try:
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        found = []
        while consumer.position(tp) < end:
            for batch in consumer.poll(timeout_ms=200).values():
                found += [(r.key, r.value, dict(r.headers)) for r in batch]
        return found
    finally:
        consumer.close()


def test_a_commit_is_one_record_per_topic_with_cloudevents_headers(
    recorder: KafkaProcessRecorder, settings: KafkaSettings
) -> None:
    recorder.insert_events(
        [
            event("order-1", 1, "orders:OrderPlaced"),
            event("sku-a@w1", 1),
            event("order-1", 2, "orders:OrderConfirmed"),
            event("sku-b@w1", 1),
        ]
    )

    ((order_key, order_value, order_headers),) = records(settings, "orders")
    ((stock_key, stock_value, stock_headers),) = records(settings, "stock")
    assert records(settings, "credit") == []
    assert (order_key, stock_key) == (b"order-1", None)
    assert Commit(order_value).streams() == [("order-1", 1), ("order-1", 2)]
    assert Commit(stock_value).streams() == [("sku-a@w1", 1), ("sku-b@w1", 1)]
    for headers in (order_headers, stock_headers):
        assert headers["ce_specversion"] == b"1.0"
        assert headers["ce_type"] == b"io.stockledger.commit.v1"
        assert headers["ce_source"] == f"/stockledger/{settings.transactional_id}".encode()
        assert headers["ce_subject"] == b"notifications 1-4"
        assert headers["content-type"] == b"application/vnd.stockledger.commit.v1"
        assert headers["ce_time"].endswith(b"+00:00")
    assert (order_headers["ce_id"], stock_headers["ce_id"]) == (b"1/orders", b"1/stock")
    assert msgspec.msgpack.decode(order_headers[COMMIT_HEADER]) == [1, 4, 2, [0, 2]]
    assert msgspec.msgpack.decode(stock_headers[COMMIT_HEADER]) == [1, 4, 2, [1, 3]]


def test_a_record_over_the_limit_is_refused_and_the_writer_goes_on(
    recorder: KafkaProcessRecorder,
) -> None:
    recorder.insert_events([event("order-1", 1, "orders:OrderPlaced")])
    # Random bytes do not compress, so the stock record packs past the limit.
    big = StoredEvent("sku-a@w1", 1, "stock:StockReceived", os.urandom(RECORD_BYTES_MAX))

    with pytest.raises(DataError, match="RECORD_BYTES_MAX"):
        recorder.insert_events([event("order-2", 1, "orders:OrderPlaced"), big])

    assert all_notifications(recorder) == [(1, "order-1", 1)]
    assert recorder.insert_events([event("order-2", 1, "orders:OrderPlaced")]) == [2]


def test_an_eventsourcing_application_runs_on_kafka_with_snapshots(
    kafka_broker: Broker, kafka_prefix: str
) -> None:
    env = {
        "PERSISTENCE_MODULE": "engine.store.kafka",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap,
        "KAFKA_TOPIC_PREFIX": kafka_prefix,
        "IS_SNAPSHOTTING_ENABLED": "yes",
    }
    app = Shelves(env=env)
    shelf_id = app.create("garden")
    for item in ("rake", "hose", "seeds"):
        app.add(shelf_id, item)
    app.take_snapshot(shelf_id, version=3)
    app.add(shelf_id, "gloves")
    app.close()

    reopened: Application[UUID] = Shelves(env=env)
    shelf: Shelf = reopened.repository.get(shelf_id)
    assert shelf.items == ["rake", "hose", "seeds", "gloves"]
    assert reopened.snapshots is not None
    assert [s.originator_version for s in reopened.snapshots.get(shelf_id)] == [3]
    reopened.close()


def test_a_kafka_url_names_the_brokers_and_the_options() -> None:
    env = kafka_environment("kafka://h1:9092,h2:9092?prefix=t1-&partition=2&timeout_s=5")
    assert env == {
        "PERSISTENCE_MODULE": "engine.store.kafka",
        "KAFKA_BOOTSTRAP_SERVERS": "h1:9092,h2:9092",
        "KAFKA_TOPIC_PREFIX": "t1-",
        "KAFKA_PARTITION": "2",
        "KAFKA_TIMEOUT_S": "5",
    }
    with pytest.raises(StoreURLError, match="unknown option 'partiton'"):
        kafka_environment("kafka://h1:9092?partiton=1")
    with pytest.raises(StoreURLError, match="names no broker"):
        kafka_environment("kafka:///path")


@pytest.mark.parametrize(
    ("prefix", "refused"),
    [("t 1-", r"holds ' '"), ("orders/", r"holds '/'"), ("x" * 241, "at most 249")],
)
def test_a_prefix_kafka_would_refuse_in_topic_names_is_refused_before_any_topic_is_made(
    prefix: str, refused: str
) -> None:
    with pytest.raises(InterfaceError, match=refused):
        KafkaSettings("127.0.0.1:1", prefix=prefix)
    url = f"kafka://127.0.0.1:1?prefix={quote(prefix)}"
    with pytest.raises(StoreURLError, match=rf"^'kafka://127\.0\.0\.1:1\?prefix=.*{refused}"):
        open_factory(url)
    KafkaSettings("127.0.0.1:1", prefix="x" * 240)


def test_a_purpose_kafka_would_refuse_in_a_topic_name_is_refused() -> None:
    datastore = KafkaDatastore(KafkaSettings("127.0.0.1:1", prefix="t-"))
    try:
        with pytest.raises(InterfaceError, match=r"'t-snap shots' .* holds ' '"):
            datastore.log_for("snap shots")
    finally:
        datastore.close()


@pytest.mark.parametrize(
    ("name", "config", "named"),
    [
        ("orders", {"cleanup.policy": "compact"}, "cleanup.policy='compact'"),
        ("stock", {"retention.ms": "60000"}, "retention.ms='60000'"),
        ("tracking", {"cleanup.policy": "delete"}, "cleanup.policy='delete'"),
        (
            "credit",
            {"max.message.bytes": "1048588", "retention.ms": "-1", "retention.bytes": "-1"},
            "max.message.bytes=1048588",
        ),
    ],
)
def test_a_topic_made_beforehand_that_would_lose_events_is_refused(
    settings: KafkaSettings, name: str, config: dict[str, str], named: str
) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        admin.create_topics(
            [NewTopic(settings.topic(name), 1, 1, topic_configs=config)], wait_for_metadata=True
        )
    finally:
        admin.close()
    datastore = KafkaDatastore(settings)
    try:
        with pytest.raises(InterfaceError, match=rf"topic '{settings.topic(name)}' has {named}"):
            KafkaProcessRecorder(datastore).create_table()
    finally:
        datastore.close()


def test_topics_made_beforehand_as_the_store_makes_them_are_taken(
    settings: KafkaSettings, recorder: KafkaProcessRecorder
) -> None:
    recorder.insert_events([event("order-1", 1)])
    datastore = KafkaDatastore(settings)
    try:
        again = KafkaProcessRecorder(datastore)
        again.create_table()
        assert [n.originator_id for n in again.select_notifications(None, 10)] == ["order-1"]
    finally:
        datastore.close()
