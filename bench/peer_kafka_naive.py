"""The naive layout on Kafka at its ceiling: kafka-python producing one record per event.

The peer the engine's Kafka store is compared with. Each event is one record
on one topic, keyed by its stream id (so a stream's events keep their order
in one partition), its value the encoded envelope exactly as the engine
stores it (`engine.codec.to_stored`). Durable as the engine is: `acks="all"`
and idempotent, compressed with lz4 as the store compresses.

It is a ceiling, so the producer is tuned for throughput as far as
kafka-python goes; the settings are those that measured fastest here (see
`NaiveSettings`). Two ways to produce: plain (send everything, then flush)
and transactional (one transaction per `events_per_transaction` events), the
latter being what the engine does: it commits transactionally.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from eventsourcing.persistence import StoredEvent
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.partitioner import DefaultPartitioner

from engine.kafka.broker import MESSAGE_BYTES_MAX

REPLICATION_FACTOR: Final = 1  # the local broker is a single node
ADMIN_TIMEOUT_MS: Final = 30_000
FLUSH_TIMEOUT_S: Final = 300.0


@dataclass(frozen=True)
class NaiveSettings:
    """The producer's tuning. The defaults measured fastest for this layout here
    (flow events of about 300 bytes, median of three runs of 100,000 events):

    - one partition: about 8% faster than eight, since every batch is bigger;
    - `batch_bytes` 4 MiB (requests up to the broker's record limit): about 10%
      faster than 1 MiB, and kafka-python's default of 16 KiB is slower still;
      16 MiB measured slower again;
    - `linger_ms` 50: the records are all at hand, so a batch fills long before
      it; 5 and 500 measured no better;
    - five requests in flight, the most idempotence allows;
    - the murmur2 partitioner remembered per key (`RememberingPartitioner`):
      about 8% faster than hashing every record;
    - kafka-python's metrics off.

    `events_per_transaction` 10,000 is the engine's commit: a submit of 1,000
    flow orders of ten events each.
    """

    partitions: int = 1
    linger_ms: int = 50
    batch_bytes: int = 4 * 1024 * 1024
    request_bytes_max: int = MESSAGE_BYTES_MAX
    max_in_flight: int = 5
    events_per_transaction: int = 10_000


class RememberingPartitioner(DefaultPartitioner):  # type: ignore[misc]
    """kafka-python's own murmur2 partitioner, its answer remembered per key: the
    hash is pure Python, and a stream's events all carry the same key."""

    def __init__(self) -> None:
        self._chosen: dict[tuple[str, bytes], int] = {}

    def partition(
        self,
        topic: str,
        key: object,
        serialized_key: bytes,
        value: object,
        serialized_value: bytes,
        cluster: object,
    ) -> int:
        chosen = self._chosen.get((topic, serialized_key))
        if chosen is None:
            chosen = super().partition(topic, key, serialized_key, value, serialized_value, cluster)
            self._chosen[topic, serialized_key] = chosen
        return int(chosen)


class FailedSendError(RuntimeError):
    """Kafka did not take every record: the figure would count events that were lost."""


def create_topic(bootstrap: str, topic: str, settings: NaiveSettings) -> None:
    """The peer's topic: the broker creates none by itself."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=ADMIN_TIMEOUT_MS)
    try:
        admin.create_topics([NewTopic(topic, settings.partitions, REPLICATION_FACTOR)])
    finally:
        admin.close()


def open_producer(
    bootstrap: str, topic: str, settings: NaiveSettings, transactional_id: str | None = None
) -> KafkaProducer:
    """A producer with the topic's metadata already fetched, so that timing starts at
    the first send; transactional (and its id registered) when given an id."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        compression_type="lz4",
        linger_ms=settings.linger_ms,
        batch_size=settings.batch_bytes,
        max_in_flight_requests_per_connection=settings.max_in_flight,
        # Per-record sensors cost time on every send and tell the bench nothing.
        metrics_enabled=False,
        max_request_size=settings.request_bytes_max,
        partitioner=RememberingPartitioner(),
        transactional_id=transactional_id,
    )
    if transactional_id is not None:
        producer.init_transactions()
    producer.partitions_for(topic)
    return producer


def produce(producer: KafkaProducer, topic: str, events: Sequence[StoredEvent]) -> None:
    """One record per event, then flush; raises if any record was not acknowledged."""
    send = producer.send
    futures = [
        send(topic, key=str(event.originator_id).encode(), value=event.state) for event in events
    ]
    producer.flush(timeout=FLUSH_TIMEOUT_S)
    failed = [future for future in futures if future.failed()]
    if failed:
        msg = f"{len(failed)} of {len(events)} records failed, first: {failed[0].exception!r}"
        raise FailedSendError(msg)


def produce_transactional(
    producer: KafkaProducer, topic: str, events: Sequence[StoredEvent], events_per_transaction: int
) -> None:
    """One record per event, one transaction per `events_per_transaction` events. A
    commit flushes its records and fails if any of them failed."""
    send = producer.send
    for start in range(0, len(events), events_per_transaction):
        producer.begin_transaction()
        for event in events[start : start + events_per_transaction]:
            send(topic, key=str(event.originator_id).encode(), value=event.state)
        producer.commit_transaction()


def events_per_second(
    bootstrap: str,
    topic: str,
    events: Sequence[StoredEvent],
    settings: NaiveSettings | None = None,
    *,
    transactional_id: str | None = None,
) -> float:
    """One timed run on a fresh topic `topic`: events acknowledged per second.

    Transactional when given a transactional id, plain otherwise.
    """
    settings = settings or NaiveSettings()
    create_topic(bootstrap, topic, settings)
    producer = open_producer(bootstrap, topic, settings, transactional_id)
    try:
        started = time.perf_counter()
        if transactional_id is None:
            produce(producer, topic, events)
        else:
            produce_transactional(producer, topic, events, settings.events_per_transaction)
        elapsed_s = time.perf_counter() - started
    finally:
        producer.close()
    return len(events) / elapsed_s
