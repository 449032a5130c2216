"""`stockledger tail TOPIC`: a topic's records as JSON lines, live.

Event topics (`orders`, `stock`, `credit`) hold packed commits: each record is
opened and every event in it printed on its own line, as `engine.codec.to_json`
writes it. The `commands` and `dlq` topics already hold JSON and are printed
as they are. Only committed records are read (read_committed), as the engine's
own readers do: an aborted commit is never shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from kafka import KafkaConsumer, TopicPartition

from engine.codec import decode, to_json
from engine.events import TOPICS
from engine.kafka.service import COMMANDS_TOPIC, DLQ_TOPIC
from engine.store.kafka import KafkaSettings
from engine.store.packing import Commit

TAIL_TOPICS: Final = (*TOPICS, COMMANDS_TOPIC, DLQ_TOPIC)
POLL_MS: Final = 200


class TailError(ValueError):
    """A topic that cannot be tailed: not one of the engine's, or not on the broker."""


def tail(
    settings: KafkaSettings, name: str, *, from_beginning: bool = False, follow: bool = True
) -> Iterator[bytes]:
    """One JSON line per event (or command, or dead letter), in each partition's order.

    Without `follow`, stops at the end the topic had when tailing began.
    """
    if name not in TAIL_TOPICS:
        msg = f"no topic {name!r} to tail; the engine's topics are {', '.join(TAIL_TOPICS)}"
        raise TailError(msg)
    topic = settings.topic(name)
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        isolation_level="read_committed",
        enable_auto_commit=False,
        request_timeout_ms=settings.timeout_ms,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            msg = f"topic {topic!r} is not on the broker at {settings.bootstrap_servers}"
            raise TailError(msg)
        consumer.assign(partitions)
        if from_beginning:
            consumer.seek_to_beginning(*partitions)
        else:
            consumer.seek_to_end(*partitions)
        ends: dict[Any, int] = consumer.end_offsets(partitions)
        events = name in TOPICS
        while follow or any(consumer.position(tp) < end for tp, end in ends.items()):
            for records in consumer.poll(timeout_ms=POLL_MS).values():
                for record in records:
                    yield from _lines(record.value, events)
    finally:
        consumer.close(autocommit=False)


def _lines(value: bytes | None, events: bool) -> Iterator[bytes]:
    if value is None:
        return
    if not events:
        yield value
        return
    for _id, _version, _topic, state in Commit(value).events():
        yield to_json(decode(state))
