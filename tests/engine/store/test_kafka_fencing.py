"""One writer per partition: a newer writer fences the older, which writes
nothing more; a store opened again rebuilds what the writer needs from Kafka."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, Tracking
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition

from engine.engine import Engine
from engine.kafka import Broker
from engine.store import open_factory
from engine.store.kafka import (
    ENGINE_TOPICS,
    OTHER_EVENTS_TOPIC,
    TRACKING_TOPIC,
    Consumed,
    KafkaApplicationRecorder,
    KafkaDatastore,
    KafkaFactory,
    KafkaProcessRecorder,
    KafkaSettings,
    WriterFencedError,
)
from tests.engine.conftest import (
    TTL_S,
    Shop,
    advance,
    cancel,
    configure,
    line,
    place,
    receive,
    stock_up,
)
from tests.engine.store.contract import all_notifications, event
from tests.engine.test_engine import picture


@pytest.fixture
def settings(kafka_broker: Broker, kafka_prefix: str) -> KafkaSettings:
    return KafkaSettings(kafka_broker.bootstrap, prefix=kafka_prefix)


@pytest.fixture
def datastores(settings: KafkaSettings) -> Iterator[list[KafkaDatastore]]:
    """Datastores opened by a test, each as if in a process of its own."""
    opened: list[KafkaDatastore] = []
    yield opened
    for datastore in opened:
        datastore.close()


def writer(settings: KafkaSettings, opened: list[KafkaDatastore]) -> KafkaProcessRecorder:
    datastore = KafkaDatastore(settings)
    opened.append(datastore)
    recorder = KafkaProcessRecorder(datastore)
    recorder.create_table()
    return recorder


def records_written(settings: KafkaSettings) -> int:
    """Every data record in the event and tracking topics, committed or not."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        isolation_level="read_uncommitted",
        enable_auto_commit=False,
        fetch_max_wait_ms=5,
    )
    names = (*ENGINE_TOPICS, OTHER_EVENTS_TOPIC, TRACKING_TOPIC)
    tps = [TopicPartition(settings.topic(name), settings.partition) for name in names]
    try:
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        count = 0
        while any(consumer.position(tp) < end[tp] for tp in tps):
            count += sum(len(records) for records in consumer.poll(timeout_ms=200).values())
        return count
    finally:
        consumer.close()


def test_the_older_writer_is_fenced_and_writes_nothing_more(
    settings: KafkaSettings, datastores: list[KafkaDatastore]
) -> None:
    older = writer(settings, datastores)
    assert older.insert_events([event("order-1", 1)]) == [1]

    newer = writer(settings, datastores)
    # The newer writer fences the older as it starts, then reads its heads.
    with pytest.raises(IntegrityError, match="order-1"):
        newer.insert_events([event("order-1", 1)])
    assert newer.insert_events([event("order-2", 1)]) == [2]
    written = records_written(settings)

    with pytest.raises(WriterFencedError, match="another writer took over partition 0"):
        older.insert_events([event("order-1", 2)])
    with pytest.raises(WriterFencedError):
        older.insert_events([event("order-3", 1)], tracking=Tracking("upstream", 1))
    with pytest.raises(WriterFencedError):
        older.insert_tracking(Tracking("upstream", 2))

    assert records_written(settings) == written
    assert newer.insert_events([event("order-1", 2)]) == [3]
    reader = writer(settings, datastores)
    assert all_notifications(reader) == [(1, "order-1", 1), (2, "order-2", 1), (3, "order-1", 2)]
    assert reader.max_tracking_id("upstream") is None


def test_a_reopened_writer_rebuilds_heads_ids_and_tracking_from_kafka(
    settings: KafkaSettings, datastores: list[KafkaDatastore]
) -> None:
    first = writer(settings, datastores)
    first.insert_events(
        [event("sku-a@w1", 1), event("order-1", 1, "orders:OrderPlaced"), event("sku-a@w1", 2)],
        tracking=Tracking("upstream", 7),
    )
    first.insert_events([event("order-1", 2, "orders:OrderConfirmed"), event("x", 1, "app:Made")])
    first.datastore.close()

    again = writer(settings, datastores)
    for clash in (event("sku-a@w1", 2), event("order-1", 2, "orders:OrderConfirmed")):
        with pytest.raises(IntegrityError):
            again.insert_events([clash])
    with pytest.raises(IntegrityError):
        again.insert_events([event("order-9", 1)], tracking=Tracking("upstream", 7))
    assert again.insert_events([event("sku-a@w1", 3), event("x", 2, "app:Made")]) == [6, 7]
    assert again.max_tracking_id("upstream") == 7
    commits = [
        (first, [(str(i), v, t) for i, v, t, _ in commit.events()])
        for first, commit in again.read_commits()
    ]
    assert commits == [
        (
            1,
            [
                ("sku-a@w1", 1, "stock:StockReceived"),
                ("order-1", 1, "orders:OrderPlaced"),
                ("sku-a@w1", 2, "stock:StockReceived"),
            ],
        ),
        (4, [("order-1", 2, "orders:OrderConfirmed"), ("x", 1, "app:Made")]),
        (6, [("sku-a@w1", 3, "stock:StockReceived"), ("x", 2, "app:Made")]),
    ]
    assert [n.id for n in again.select_notifications(None, 10, topics=["app:Made"])] == [5, 7]


def test_consumed_offsets_commit_with_the_events(
    settings: KafkaSettings, datastores: list[KafkaDatastore]
) -> None:
    store = writer(settings, datastores)
    commands = settings.topic("commands")
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    admin.create_topics({commands: {"num_partitions": 1}}, wait_for_metadata=True)
    admin.close()
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    sent = [producer.send(commands, value=f"command-{i}".encode(), partition=0) for i in range(3)]
    assert [future.get(timeout=10).offset for future in sent] == [0, 1, 2]
    producer.close()
    group = f"{settings.prefix}engine"
    consumer = KafkaConsumer(
        commands,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    try:
        got: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(got) < 3 and time.monotonic() < deadline:
            got += [r.value for rs in consumer.poll(timeout_ms=500).values() for r in rs]
        assert len(got) == 3
        tp = TopicPartition(commands, 0)
        consumed = Consumed({tp: OffsetAndMetadata(3, "", -1)}, consumer.group_metadata())

        assert store.insert_events([event("order-1", 1)], consumed=consumed) == [1]

        assert consumer.committed(tp) == 3
        with pytest.raises(IntegrityError):
            store.insert_events(
                [event("order-1", 1)],
                consumed=Consumed({tp: OffsetAndMetadata(9, "", -1)}, consumer.group_metadata()),
            )
        assert consumer.committed(tp) == 3
    finally:
        consumer.close()


class KafkaShop(Shop):
    """The engine tests' shop on the Kafka store; `reopen` opens it as a new process would."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.factory: KafkaFactory | None = None
        self.recorder: ApplicationRecorder = self._recorder()
        self.engine = self._open(self.recorder)

    def _recorder(self) -> ApplicationRecorder:
        if self.factory is not None:
            self.factory.close()
        factory = open_factory(self.url)
        assert isinstance(factory, KafkaFactory)
        self.factory = factory
        recorder = factory.application_recorder()
        assert isinstance(recorder, KafkaApplicationRecorder)
        return recorder


def test_an_engine_on_kafka_reopens_to_the_same_state(
    kafka_broker: Broker, kafka_prefix: str
) -> None:
    shop = stock_up(KafkaShop(f"kafka://{kafka_broker.bootstrap}?prefix={kafka_prefix}"))
    try:
        shop.submit(place("o1", line("A", 3)), place("o2", line("A", 12), line("B", 2)))
        shop.submit(cancel("o1"), place("o3", line("B", 1)), advance(TTL_S * 2))
        live = picture(shop)
        written = shop.notifications

        shop.reopen()

        assert picture(shop) == live
        assert shop.notifications == written
        # The reopened writer takes over: its next commit follows on.
        shop.one(place("o4", line("A", 1)))
        assert shop.notifications > written
        assert shop.status("o4") == "confirmed"
    finally:
        assert shop.factory is not None
        shop.factory.close()


def test_opening_the_store_again_takes_a_fenced_partition_back(
    settings: KafkaSettings, datastores: list[KafkaDatastore]
) -> None:
    url = f"kafka://{settings.bootstrap_servers}?prefix={settings.prefix}"
    first = open_factory(url)
    again: KafkaFactory | None = None
    try:
        recorder = first.application_recorder()
        recorder.insert_events([event("order-1", 1)])
        other = writer(settings, datastores)
        other.insert_events([event("order-2", 1)])
        with pytest.raises(WriterFencedError):
            recorder.insert_events([event("order-3", 1)])

        again = open_factory(url)
        assert isinstance(again, KafkaFactory)
        assert again.application_recorder().insert_events([event("order-3", 1)]) == [3]
        with pytest.raises(WriterFencedError):
            other.insert_events([event("order-4", 1)])
    finally:
        first.close()
        if again is not None:
            again.close()


def test_opening_an_engine_fences_the_earlier_one_before_the_new_one_writes(
    settings: KafkaSettings, datastores: list[KafkaDatastore]
) -> None:
    # The newer engine's writer starts as it opens, not at its first commit:
    # the older is fenced before it could commit under the state the newer read.
    def engine() -> Engine:
        datastore = KafkaDatastore(settings)
        datastores.append(datastore)
        recorder = KafkaApplicationRecorder(datastore)
        recorder.create_table()
        return Shop._open(recorder)

    older = engine()
    older.submit([configure("A", "east", 0), receive("A", "east", 5)])
    written = records_written(settings)

    newer = engine()

    with pytest.raises(WriterFencedError, match="another writer took over partition 0"):
        older.submit([receive("A", "east", 7)])
    assert records_written(settings) == written
    newer.submit([receive("A", "east", 11)])
    slot = newer.core.slot("A", "east")
    assert slot is not None
    assert slot.on_hand == 16
