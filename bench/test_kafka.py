"""The flow workload's events on a real Kafka broker: the naive layout's ceiling,
and the place for the engine on its Kafka store beside it.

The bar: the engine's events/s on Kafka at least 3x the ceiling of the naive
layout, kafka-python producing one record per event for the same events
(`bench.peer_kafka_naive`); orders/s reported too.

The events are those the engine's flow orders cause (`engine.simulator
.flow_workload`, ten events an order), made once by the engine on a temporary
embedded store and encoded as the engine stores them. Each round writes them
to a fresh topic with a fresh producer, made before the clock starts; the
round ends when the broker has acknowledged every record (`acks=all`). The
naive peer runs plain (everything sent, then one flush) and transactional
(one transaction per engine commit's worth of events), and the last round's
topic is read back with `read_committed`: every event, once, in order.

With `--benchmark-disable` every size shrinks, so the file doubles as a fast test.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from pytest_benchmark.fixture import BenchmarkFixture

from bench.conftest import Record, per_second
from bench.peer_kafka_naive import (
    NaiveSettings,
    create_topic,
    open_producer,
    produce,
    produce_transactional,
)
from bench.test_engine import BUILD_COMMANDS_PER_SUBMIT, COMMANDS_PER_SUBMIT, _size, _submit_all
from engine.codec import to_stored
from engine.engine import Answer, Engine
from engine.kafka import Broker
from engine.simulator import SimulatorSettings, flow_workload, run
from engine.store import open_factory
from engine.verify import verify_store

# (timed, with --benchmark-disable)
FLOW_ORDERS: Final = (20_000, 100)
EVENTS_PER_TRANSACTION: Final = (NaiveSettings().events_per_transaction, 300)
ROUNDS: Final = 3
READ_BACK_POLL_MS: Final = 1_000
READ_BACK_POLLS_MAX: Final = 600

ENGINE: Final = "stockledger"
NAIVE_VARIANTS: Final = ("plain", "transactional")

_rates: dict[str, float] = {}
_rounds = itertools.count()


@dataclass(frozen=True)
class FlowEvents:
    orders: int
    events: list[StoredEvent]


@pytest.fixture(scope="module")
def flow_events(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FlowEvents]:
    """The events of the flow's orders (not of its set-up), as the engine stores them."""
    orders = _size(FLOW_ORDERS, bool(request.config.getoption("benchmark_disable")))
    setup, placed = flow_workload(orders)
    factory = open_factory(f"sqlite:///{tmp_path_factory.mktemp('flow')}/store.db")
    engine = Engine.open(factory.application_recorder())
    _submit_all(engine, setup, BUILD_COMMANDS_PER_SUBMIT)
    answers = _submit_all(engine, placed, COMMANDS_PER_SUBMIT)
    yield FlowEvents(orders, [to_stored(e) for answer in answers for e in answer.events])
    factory.close()


def _record_rates(
    benchmark: BenchmarkFixture, system: str, flow: FlowEvents, figure: Record
) -> None:
    rate = per_second(benchmark, len(flow.events))
    if rate is None:
        return
    _rates[system] = rate
    name = f"kafka flow, {system if system == ENGINE else f'naive peer, {system}'}"
    bar = ">= 3x the naive ceiling" if system == ENGINE else ""
    figure(name, rate, "events/s", bar)
    figure(name, rate * flow.orders / len(flow.events), "orders/s", "")
    naive = [_rates[variant] for variant in NAIVE_VARIANTS if variant in _rates]
    if ENGINE in _rates and naive:
        figure("kafka flow, stockledger / naive ceiling", _rates[ENGINE] / max(naive), "x", ">= 3x")


def _read_committed(bootstrap: str, topic: str) -> list[tuple[bytes, bytes]]:
    """(key, value) of every committed record of the one-partition `topic`, in order."""
    partition = TopicPartition(topic, 0)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        consumer.assign([partition])
        end = consumer.end_offsets([partition])[partition]
        records: list[tuple[bytes, bytes]] = []
        for _ in range(READ_BACK_POLLS_MAX):
            if consumer.position(partition) >= end:
                return records
            for batch in consumer.poll(timeout_ms=READ_BACK_POLL_MS).values():
                records += [(record.key, record.value) for record in batch]
        msg = f"read {len(records)} records of {topic} in {READ_BACK_POLLS_MAX} polls, not to {end}"
        raise AssertionError(msg)
    finally:
        consumer.close()


@pytest.mark.parametrize("variant", NAIVE_VARIANTS)
def test_flow_naive_kafka_peer(
    benchmark: BenchmarkFixture,
    kafka_broker: Broker,
    kafka_prefix: str,
    flow_events: FlowEvents,
    variant: str,
    figure: Record,
) -> None:
    benchmark.group = "kafka flow: the flow's events written, durable"
    settings = NaiveSettings(
        events_per_transaction=_size(EVENTS_PER_TRANSACTION, benchmark.disabled)
    )
    assert settings.partitions == 1, "the read-back below reads one partition"
    bootstrap = kafka_broker.bootstrap
    transactional = variant == "transactional"
    producers: list[KafkaProducer] = []
    topics: list[str] = []

    def fresh() -> tuple[tuple[KafkaProducer, str], dict[str, Any]]:
        topics.append(f"{kafka_prefix}naive-{variant}-{next(_rounds)}")
        create_topic(bootstrap, topics[-1], settings)
        transactional_id = topics[-1] if transactional else None
        producers.append(open_producer(bootstrap, topics[-1], settings, transactional_id))
        return (producers[-1], topics[-1]), {}

    def write(producer: KafkaProducer, topic: str) -> None:
        if transactional:
            produce_transactional(
                producer, topic, flow_events.events, settings.events_per_transaction
            )
        else:
            produce(producer, topic, flow_events.events)

    benchmark.pedantic(write, setup=fresh, rounds=ROUNDS, iterations=1)
    for producer in producers:
        producer.close()
    expected = [(str(e.originator_id).encode(), e.state) for e in flow_events.events]
    assert _read_committed(bootstrap, topics[-1]) == expected
    _record_rates(benchmark, variant, flow_events, figure)


def test_flow_stockledger_on_kafka(
    benchmark: BenchmarkFixture,
    kafka_broker: Broker,
    kafka_prefix: str,
    flow_events: FlowEvents,
    figure: Record,
) -> None:
    """The flow's orders submitted to an engine on the Kafka store, a commit of
    `COMMANDS_PER_SUBMIT` orders at a time, as the embedded store's bench does;
    each round on fresh topics, its set-up committed before the clock starts."""
    benchmark.group = "kafka flow: the flow's events written, durable"
    setup, placed = flow_workload(flow_events.orders)
    factories: list[Any] = []

    def fresh() -> tuple[tuple[Engine], dict[str, Any]]:
        url = f"kafka://{kafka_broker.bootstrap}?prefix={kafka_prefix}r{next(_rounds)}-"
        factories.append(open_factory(url))
        engine = Engine.open(factories[-1].application_recorder())
        _submit_all(engine, setup, BUILD_COMMANDS_PER_SUBMIT)
        return (engine,), {}

    def place(engine: Engine) -> list[Answer]:
        # Through the pipeline, as the demo and the service run: each batch
        # is decided while the one before commits; all are durable on return.
        answers: list[Answer] = []
        with engine.pipeline() as pipeline:
            for start in range(0, len(placed), COMMANDS_PER_SUBMIT):
                answers += pipeline.submit(placed[start : start + COMMANDS_PER_SUBMIT])
        return answers

    answers = benchmark.pedantic(place, setup=fresh, rounds=ROUNDS, iterations=1)
    for factory in factories:
        factory.close()
    written = [to_stored(e) for answer in answers for e in answer.events]
    assert [(e.originator_id, e.originator_version, e.topic) for e in written] == [
        (e.originator_id, e.originator_version, e.topic) for e in flow_events.events
    ]
    _record_rates(benchmark, ENGINE, flow_events, figure)


# (timed, with --benchmark-disable): the demo's own default size.
DEMO_ORDERS: Final = (50_000, 200)
DEMO_STORES: Final = ("kafka", "sqlite")


@pytest.mark.parametrize("store", DEMO_STORES)
def test_demo_workload(
    benchmark: BenchmarkFixture,
    kafka_broker: Broker,
    kafka_prefix: str,
    tmp_path: Path,
    store: str,
    figure: Record,
) -> None:
    """`stockledger demo`'s mixed workload end to end, durable, on each store in the
    same run (bar: >= 5,000 orders/s on Kafka); verify passes on what was written."""
    benchmark.group = "demo workload, end to end, durable"
    settings = SimulatorSettings(orders=_size(DEMO_ORDERS, benchmark.disabled))
    urls = itertools.count()

    factories: list[Any] = []

    def fresh() -> tuple[tuple[Engine], dict[str, Any]]:
        if store == "kafka":
            url = f"kafka://{kafka_broker.bootstrap}?prefix={kafka_prefix}demo{next(urls)}-"
        else:
            url = f"sqlite:///{tmp_path / f'demo-{next(urls)}.db'}"
        factories.append(open_factory(url))
        return (Engine.open(factories[-1].application_recorder()),), {}

    recorders: list[ApplicationRecorder] = []

    def demo(engine: Engine) -> None:
        # As `stockledger demo` times it: the storefront's run on the opened
        # engine, until its last batch is committed; the store's
        # verification follows, untimed.
        recorders.append(engine.recorder)
        run(engine, settings)

    # The median of three rounds: one swings by a tenth on this machine.
    benchmark.pedantic(demo, setup=fresh, rounds=3, iterations=1)
    assert all(verify_store(recorder).ok for recorder in recorders)
    for factory in factories:
        factory.close()
    rate = per_second(benchmark, settings.orders)
    if rate is not None:
        bar = ">= 5,000 on kafka" if store == "kafka" else ""
        figure(f"demo workload, {store}", rate, "orders/s", bar)
