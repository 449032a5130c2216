"""The engine service on a real broker: commands from a topic, events exactly once."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import msgspec
from kafka import KafkaConsumer, KafkaProducer

from engine.codec import decode
from engine.commands import AnyCommand, json_encoder
from engine.engine import Engine
from engine.kafka import Broker
from engine.kafka.service import (
    COMMANDS_TOPIC,
    DLQ_TOPIC,
    BatchDone,
    DeadLetter,
    Service,
    create_topics,
    kafka_settings,
)
from engine.store import open_factory
from engine.verify import verify_store
from tests.engine.test_engine_crash import workload

Event = tuple[str, int, str, str, bytes]
STOCKLEDGER = str(Path(sys.executable).parent / "stockledger")


def events_of(url: str) -> list[Event]:
    """Each event as what must match between runs: stream, version, topic, command, payload."""
    factory = open_factory(url)
    try:
        recorder = factory.application_recorder()
        events = []
        for n in recorder.select_notifications(None, 10**7):
            envelope = decode(n.state)
            payload = msgspec.msgpack.encode(envelope.data)
            events.append(
                (envelope.stream_id, envelope.version, n.topic, str(envelope.causation_id), payload)
            )
        return events
    finally:
        factory.close()


def clean_run(tmp_path: Path, commands: list[AnyCommand]) -> list[Event]:
    """The same commands straight into an engine on the embedded store."""
    url = f"sqlite:///{tmp_path / 'clean.db'}"
    factory = open_factory(url)
    engine = Engine.open(factory.application_recorder())
    for start in range(0, len(commands), 100):
        engine.submit(commands[start : start + 100])
    factory.close()
    return events_of(url)


def publish(url: str, values: list[bytes]) -> None:
    """As a storefront does: the commands, to the service's commands topic."""
    settings = kafka_settings(url)
    create_topics(settings)
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    for value in values:
        producer.send(settings.topic(COMMANDS_TOPIC), value)
    producer.flush()
    producer.close()


def read_all(bootstrap: str, topic: str) -> list[bytes]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3_000,
        isolation_level="read_committed",
    )
    values = [record.value for record in consumer]
    consumer.close()
    return values


def test_commands_from_the_topic_become_the_events_a_direct_run_writes(
    kafka_broker: Broker, kafka_prefix: str, tmp_path: Path
) -> None:
    commands = workload(seed=5, orders=300)
    url = f"kafka://{kafka_broker.bootstrap}?prefix={kafka_prefix}"
    values = [json_encoder.encode(c) for c in commands]
    # A record that is no command, among the others: it goes to the dlq, the rest go on.
    values.insert(40, b'{"type": "PlaceOrder", "command_id": 7}')
    publish(url, values)

    batches: list[BatchDone] = []
    Service(url, batch_commands_max=64).run(drain=True, on_batch=batches.append)

    assert events_of(url) == clean_run(tmp_path, commands)
    assert sum(b.commands for b in batches) == len(commands)
    assert sum(b.refused for b in batches) == 1
    assert batches[-1].offsets == {0: len(values)}
    letters = [
        msgspec.json.decode(v, type=DeadLetter)
        for v in read_all(kafka_broker.bootstrap, kafka_prefix + DLQ_TOPIC)
    ]
    assert [(letter.partition, letter.offset) for letter in letters] == [(0, 40)]
    assert "$.command_id" in letters[0].error
    assert letters[0].value == values[40]


def test_a_second_run_takes_only_what_was_published_since(
    kafka_broker: Broker, kafka_prefix: str, tmp_path: Path
) -> None:
    """Input offsets are committed with the events: nothing is taken twice."""
    commands = workload(seed=6, orders=120)
    url = f"kafka://{kafka_broker.bootstrap}?prefix={kafka_prefix}"
    half = len(commands) // 2
    publish(url, [json_encoder.encode(c) for c in commands[:half]])
    first: list[BatchDone] = []
    Service(url).run(drain=True, on_batch=first.append)
    publish(url, [json_encoder.encode(c) for c in commands[half:]])
    second: list[BatchDone] = []
    Service(url).run(drain=True, on_batch=second.append)

    assert sum(b.commands for b in first) == half
    assert sum(b.commands for b in second) == len(commands) - half
    assert events_of(url) == clean_run(tmp_path, commands)


def test_the_service_rides_out_a_broker_restart(
    kafka_broker: Broker, kafka_prefix: str, tmp_path: Path
) -> None:
    commands = workload(seed=8, orders=600)
    url = f"kafka://{kafka_broker.bootstrap}?prefix={kafka_prefix}"
    values = [json_encoder.encode(c) for c in commands]
    publish(url, values)

    service = Service(url, batch_commands_max=20)
    batches: list[BatchDone] = []
    restarted = threading.Event()

    def restart_once(done: BatchDone) -> None:
        batches.append(done)
        if len(batches) == 5 and not restarted.is_set():
            restarted.set()
            kafka_broker.restart()

    service.run(drain=True, on_batch=restart_once)

    assert restarted.is_set()
    assert events_of(url) == clean_run(tmp_path, commands)
    factory = open_factory(url)
    try:
        assert verify_store(factory.application_recorder()).ok
    finally:
        factory.close()


def run_process(url: str, kill_after_batches: int | None) -> bool:
    """`stockledger run --drain` as its own process; True when it drained, False when killed."""
    process = subprocess.Popen(
        [STOCKLEDGER, "run", "--store", url, "--batch", "25", "--drain"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for seen, _line in enumerate(process.stdout):
        if kill_after_batches is not None and seen >= kill_after_batches:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return False
    return process.wait() == 0


def test_a_killed_and_restarted_service_writes_what_a_clean_run_writes(
    kafka_broker: Broker, kafka_prefix: str, tmp_path: Path
) -> None:
    commands = workload(seed=9, orders=800)
    url = f"kafka://{kafka_broker.bootstrap}?prefix={kafka_prefix}"
    publish(url, [json_encoder.encode(c) for c in commands])

    rng = random.Random(4)
    for _ in range(3):
        assert not run_process(url, rng.randint(3, 12))
    assert run_process(url, None)

    assert events_of(url) == clean_run(tmp_path, commands)
