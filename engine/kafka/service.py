"""The engine as a service on Kafka: commands in from a topic, events out, exactly once.

Storefronts publish commands as JSON (one command per record, the same JSON
as `stockledger submit` reads) to the `<prefix>commands` topic. The service
runs one loop, in order:

1. Poll at most `batch_commands_max` records (the consumer reads committed
   records only and never commits offsets on its own).
2. Decode each record as a command. A record that is not one goes to the
   `<prefix>dlq` topic with its topic, partition, offset and the error, and
   is flushed there (acks=all) before step 3, so it is never lost; after a
   crash between 2 and 3 it may be written twice, with the same origin.
3. Submit the commands as one batch: their events and the offsets after the
   batch's records go to Kafka in one transaction (`Consumed`), so after any
   crash the group resumes exactly where the events end. Commands carry their
   own ids too, so a storefront that resends one gets the first answer back.

When the store fails (a broker restart, a lost connection) the engine and
its consumer are dropped and opened again from the store, after a backoff;
what the store says was committed is the state the service goes on from.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from eventsourcing.persistence import OperationalError
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from engine.commands import AnyCommand, json_decoder
from engine.engine import Engine, EngineBrokenError
from engine.stopping import stop_on_signals
from engine.store import open_factory
from engine.store.kafka import Consumed, KafkaFactory, KafkaSettings, plain_producer

COMMANDS_TOPIC: Final = "commands"
DLQ_TOPIC: Final = "dlq"
CONSUMER_GROUP: Final = "stockledger-engine"
BATCH_COMMANDS_MAX: Final = 1_000
POLL_MS: Final = 200
COMMAND_BYTES_MAX: Final = 1024 * 1024
# A broker restart takes seconds; the service retries opening for about a minute.
RECOVER_ATTEMPTS_MAX: Final = 30
RECOVER_BACKOFF_S: Final = 2.0


@dataclass(frozen=True)
class BatchDone:
    """What one batch did: for a progress line, and for tests that stop the service."""

    commands: int
    refused: int
    events: int
    # The next offset to read of each commands partition, after this batch.
    offsets: dict[int, int]

    def as_json(self) -> str:
        return json.dumps(
            {
                "commands": self.commands,
                "refused": self.refused,
                "events": self.events,
                "offsets": {str(p): o for p, o in self.offsets.items()},
            }
        )


class DeadLetter(msgspec.Struct, frozen=True):
    """A commands record the service could not take, as written to the dlq topic."""

    topic: str
    partition: int
    offset: int
    error: str
    value: bytes


class ServiceError(RuntimeError):
    """The service cannot go on (the store stayed unreachable)."""


class Service:
    def __init__(
        self,
        store_url: str,
        *,
        batch_commands_max: int = BATCH_COMMANDS_MAX,
        group: str = CONSUMER_GROUP,
    ) -> None:
        if not 1 <= batch_commands_max <= BATCH_COMMANDS_MAX * 10:
            most = BATCH_COMMANDS_MAX * 10
            msg = f"batch_commands_max must be 1 to {most}, got {batch_commands_max}"
            raise ValueError(msg)
        self.store_url = store_url
        self.batch_commands_max = batch_commands_max
        self.group = group
        self.stop = threading.Event()
        # Failed attempts to open the engine and its consumer, in a row.
        self._failures = 0

    def run(
        self, *, drain: bool = False, on_batch: Callable[[BatchDone], None] | None = None
    ) -> None:
        """Take commands until stopped (SIGTERM, SIGINT) or, with `drain`, until
        every command published before the start is taken."""
        with stop_on_signals() as stop:
            self.stop = stop
            while not self.stop.is_set():
                try:
                    if self._serve(drain, on_batch):
                        return
                except (OperationalError, EngineBrokenError, KafkaError) as error:
                    self._failures += 1
                    if self._failures > RECOVER_ATTEMPTS_MAX:
                        msg = (
                            f"the store stayed unreachable after {self._failures - 1} "
                            f"attempts: {error}"
                        )
                        raise ServiceError(msg) from error
                    # A stop signal ends the wait at once.
                    self.stop.wait(RECOVER_BACKOFF_S)

    def _serve(self, drain: bool, on_batch: Callable[[BatchDone], None] | None) -> bool:
        """Open the engine and its consumer, and take batches; True once drained or stopped."""
        factory = open_factory(self.store_url)
        if not isinstance(factory, KafkaFactory):
            msg = f"{self.store_url!r} is not a Kafka store; the service reads commands from Kafka"
            raise ValueError(msg)
        settings = factory.datastore.settings
        try:
            create_topics(settings)
            engine = Engine.open(
                factory.application_recorder(), snapshots=factory.aggregate_recorder("snapshots")
            )
            with (
                _consumer(settings, self.group, self.batch_commands_max) as consumer,
                _producer(settings) as dead_letters,
            ):
                # Open again: the attempts counted are those in a row.
                self._failures = 0
                ends = _end_offsets(consumer, settings) if drain else None
                while not self.stop.is_set():
                    done = self._batch(engine, consumer, dead_letters, settings)
                    if done is not None and on_batch is not None:
                        on_batch(done)
                    if ends is not None and _reached(consumer, ends):
                        return True
            return True
        finally:
            factory.close()

    def _batch(
        self,
        engine: Engine,
        consumer: KafkaConsumer,
        dead_letters: KafkaProducer,
        settings: KafkaSettings,
    ) -> BatchDone | None:
        polled = consumer.poll(timeout_ms=POLL_MS, max_records=self.batch_commands_max)
        if not polled:
            return None
        commands: list[AnyCommand] = []
        refused: list[DeadLetter] = []
        offsets: dict[Any, OffsetAndMetadata] = {}
        for partition, records in polled.items():
            for record in records:
                taken = _decode(record)
                if isinstance(taken, DeadLetter):
                    refused.append(taken)
                else:
                    commands.append(taken)
            offsets[partition] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
        if refused:
            for letter in refused:
                dead_letters.send(settings.topic(DLQ_TOPIC), msgspec.json.encode(letter))
            dead_letters.flush(timeout=settings.timeout_s)
        answers = engine.submit(commands, consumed=Consumed(offsets, consumer.group_metadata()))
        return BatchDone(
            commands=len(commands),
            refused=len(refused),
            events=sum(len(a.events) for a in answers if not a.retry),
            offsets={tp.partition: o.offset for tp, o in offsets.items()},
        )


def _decode(record: Any) -> AnyCommand | DeadLetter:
    value: bytes | None = record.value
    where = (record.topic, record.partition, record.offset)
    if value is None:
        return DeadLetter(*where, "the record has no value; a command is a JSON object", b"")
    if len(value) > COMMAND_BYTES_MAX:
        error = f"the record is {len(value)} bytes; a command is at most {COMMAND_BYTES_MAX}"
        return DeadLetter(*where, error, value[:1024])
    try:
        command: AnyCommand = json_decoder.decode(value)
    except msgspec.DecodeError as error:
        return DeadLetter(*where, f"not a command: {error}", value)
    return command


def kafka_settings(store_url: str) -> KafkaSettings:
    """The Kafka settings a store URL names; a clear error for any other store."""
    factory = open_factory(store_url)
    try:
        if not isinstance(factory, KafkaFactory):
            msg = f"{store_url!r} is not a Kafka store; the service reads commands from Kafka"
            raise ValueError(msg)
        return factory.datastore.settings
    finally:
        factory.close()


def create_topics(settings: KafkaSettings) -> None:
    """The commands and dlq topics, if they are not there yet (the service makes them too)."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=settings.timeout_ms
    )
    try:
        for name in (COMMANDS_TOPIC, DLQ_TOPIC):
            topic = NewTopic(
                settings.topic(name),
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                # Dead letters wait for a person: they never expire.
                topic_configs={"retention.ms": "-1"} if name == DLQ_TOPIC else {},
            )
            with suppress(TopicAlreadyExistsError):
                admin.create_topics([topic])
    finally:
        admin.close()


@contextmanager
def _consumer(settings: KafkaSettings, group: str, batch: int) -> Iterator[KafkaConsumer]:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=settings.topic(group),
        # Static membership: a restarted engine (after a crash, say) takes its
        # place back at once, instead of waiting out the dead member's session.
        group_instance_id=f"{settings.transactional_id}-commands",
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        max_poll_records=batch,
    )
    try:
        consumer.subscribe([settings.topic(COMMANDS_TOPIC)])
        yield consumer
    finally:
        consumer.close(autocommit=False)


@contextmanager
def _producer(settings: KafkaSettings) -> Iterator[KafkaProducer]:
    producer = plain_producer(settings)
    try:
        yield producer
    finally:
        producer.close(timeout=settings.timeout_s)


def _end_offsets(consumer: KafkaConsumer, settings: KafkaSettings) -> dict[Any, int]:
    """The end of every commands partition now: where a drain stops."""
    topic = settings.topic(COMMANDS_TOPIC)
    partitions = consumer.partitions_for_topic(topic) or set()
    ends: dict[Any, int] = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
    return ends


def _reached(consumer: KafkaConsumer, ends: dict[Any, int]) -> bool:
    """Has the consumer read past every end? Partitions not yet assigned to it have not."""
    assigned = consumer.assignment()
    return all(
        end == 0 or (tp in assigned and consumer.position(tp) >= end) for tp, end in ends.items()
    )
