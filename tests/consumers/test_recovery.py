"""Consumers ride out a broker restart on a real broker, and stop on what waiting cannot fix.

The consumer under test is `Ledger` (tests/consumers/test_group.py): a plain
INSERT per event keyed by stream and version, so an event handled twice into
the rows fails its batch (a SQL error, which stops the run), and one never
handled is missing. The store's `timeout_s` is short, so its reads fail while
the broker is away, as they do in production when a restart outlasts the
default. Where the test must see the consumer wait, reopen and go on, the
broker is started again only once the consumer has seen a read fail.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from eventsourcing.persistence import ApplicationRecorder
from kafka import KafkaConsumer

from consumers.consumer import Consumer, Effects, Runner
from consumers.group import GroupRunner, GroupSettings, Worker
from consumers.partition import PartitionRunner
from consumers.recovery import Backoff, RecoveryError, transient
from consumers.sink import KafkaSink, SinkError
from engine.commands import ConfigureSlot, json_decoder
from engine.events import StreamEvent
from engine.kafka import Broker
from engine.kafka.service import COMMANDS_TOPIC, kafka_settings
from engine.store import open_factory
from projections.db import Database, connect
from projections.runner import partition_of
from tests.consumers.conftest import STORE_PARTITIONS, KafkaStore
from tests.consumers.test_cli import STOCKLEDGER, Consuming, _short
from tests.consumers.test_group import (
    SHORTEST_SESSION_MS,
    SHORTEST_SETTLE_MS,
    Ledger,
    ledger,
    orders,
)

# Shorter than a broker restart (some 8 s here): reads fail while it is away.
TIMEOUT_S = 2
# So short that every read of the store fails: a transient failure on demand.
FAILING_TIMEOUT_S = 0.001
WAIT_S = 90.0
POLL_S = 0.05
BATCH_NOTIFICATIONS = 3


def short_session(group: str) -> GroupSettings:
    return GroupSettings(
        group,
        session_timeout_ms=SHORTEST_SESSION_MS,
        heartbeat_interval_ms=SHORTEST_SESSION_MS // 3,
        settle_timeout_ms=SHORTEST_SETTLE_MS,
    )


def quick_backoff(lines: list[str], attempts_max: int = 60) -> Backoff:
    """Retries a test can wait for: at most a second apart, a minute in all."""
    return Backoff(
        "test", lines.append, delay_s_first=0.1, delay_s_max=1.0, attempts_max=attempts_max
    )


@pytest.fixture
def store(kafka_broker: Broker, kafka_prefix: str) -> KafkaStore:
    url = (
        f"kafka://{kafka_broker.bootstrap}?prefix={kafka_prefix}"
        f"&partitions={STORE_PARTITIONS}&timeout_s={TIMEOUT_S}"
    )
    return KafkaStore(url, kafka_prefix)


class Running:
    """`run(stop)` in a thread of its own; what it raised, if anything."""

    def __init__(self, run: Callable[[threading.Event], None], lines: list[str]) -> None:
        self.lines = lines
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._run = run
        self._thread = threading.Thread(target=self._target)
        self._thread.start()

    def _target(self) -> None:
        try:
            self._run(self.stop)
        except BaseException as error:
            self.error = error

    def until(self, what: str, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT_S
        while not done():
            assert self.error is None, repr(self.error)
            assert time.monotonic() < deadline, f"waited {WAIT_S} s for {what}: {self.lines}"
            time.sleep(0.05)

    def finish(self) -> None:
        self.stop.set()
        self._thread.join(WAIT_S)
        assert not self._thread.is_alive(), "the run did not stop"
        assert self.error is None, repr(self.error)


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for run in started:
        run.stop.set()
    for run in started:
        run._thread.join(WAIT_S)


def handled(db: Database) -> int:
    return int(db.execute("SELECT COUNT(*) FROM ledger")[0][0])


def ledger_db(url: str) -> Database:
    """The read-model database with the ledger's table made, before any consumer writes."""
    db = Database(url)
    Ledger("reader", 0).ensure_schema(db)
    return db


def ledger_runner(db: Database, recorder: ApplicationRecorder) -> Runner:
    consumer = Ledger("member", partition_of(recorder))
    return Runner(consumer, db, recorder, None, batch_notifications_max=BATCH_NOTIFICATIONS)


def uninterrupted(store: KafkaStore, db_url: str, partitions: range) -> list[tuple[Any, ...]]:
    """The rows of one catch-up of each partition, with no broker restart."""
    with connect(db_url) as db:
        for partition in partitions:
            factory = open_factory(store.at(partition))
            try:
                ledger_runner(db, factory.application_recorder()).catch_up()
            finally:
                factory.close()
        return ledger(db)


def retried(lines: list[str]) -> list[str]:
    return [line for line in lines if "; retrying in " in line]


Until = Callable[[str, Callable[[], bool]], None]


def restart(broker: Broker, until: Until, lines: list[str]) -> None:
    """Stop the broker, and start it again once the consumer has seen a read fail (`until`
    waits for it, failing if the consumer ends): a restart too quick for the consumer to
    notice would prove nothing."""
    broker.stop()
    try:
        until("a failed read", lambda: bool(retried(lines)))
    finally:
        broker.start()


def test_a_consumer_of_one_partition_rides_out_a_broker_restart(
    kafka_broker: Broker, store: KafkaStore, tmp_path: Path, running: list[Running]
) -> None:
    db_url = f"sqlite:///{tmp_path / 'readmodels.db'}"
    lines: list[str] = []
    store.submit(0, orders(0, 0, 6))

    def run(stop: threading.Event) -> None:
        with Database(db_url) as db:
            PartitionRunner(
                store.at(0),
                lambda recorder: ledger_runner(db, recorder),
                backoff=quick_backoff(lines),
            ).run(stop=stop, poll_s=POLL_S)

    with ledger_db(db_url) as db:
        consumer = Running(run, lines)
        running.append(consumer)
        before = store.notifications(0)
        consumer.until("the events before the restart", lambda: handled(db) == before)
        restart(kafka_broker, consumer.until, lines)
        store.submit(0, orders(0, 6, 6))
        total = store.notifications(0)
        consumer.until("the events after the restart", lambda: handled(db) == total)
        consumer.finish()
        rows = ledger(db)

    assert "test: recovered after " in lines[-1]
    assert len(rows) == total
    assert rows == uninterrupted(store, f"sqlite:///{tmp_path / 'alone.db'}", range(1))


def test_consume_alerts_rides_out_a_broker_restart_and_alerts_once_a_slot(
    kafka_broker: Broker, store: KafkaStore, tmp_path: Path
) -> None:
    store.submit(0, _short("sku-before"))
    process = Consuming(
        ["alerts", "--store", store.at(0), "--db", f"sqlite:///{tmp_path / 'rm.db'}"]
    )

    def alerted(sku: str) -> bool:
        return any(line.startswith(f"low stock: {sku}@w1 ") for line in process.lines)

    def until(what: str, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT_S
        while not done():
            assert process.process.poll() is None, process.lines
            assert time.monotonic() < deadline, f"waited {WAIT_S} s for {what}: {process.lines}"
            time.sleep(0.05)

    try:
        until("the alert before the restart", lambda: alerted("sku-before"))
        restart(kafka_broker, until, process.lines)
        store.submit(0, _short("sku-after"))
        until("the alert after the restart", lambda: alerted("sku-after"))
    finally:
        code = process.stop()
    assert code == 0, process.lines
    alerts = [line.split()[2] for line in process.lines if line.startswith("low stock: ")]
    assert alerts == ["sku-before@w1", "sku-after@w1"]
    assert any(line.startswith(f"store {store.at(0)}: ") for line in retried(process.lines))


def test_a_group_member_rides_out_a_broker_restart(
    kafka_broker: Broker, store: KafkaStore, tmp_path: Path, running: list[Running]
) -> None:
    """A member sees the restart as a failed read (its workers are reopened), as the loss
    of its partitions (the group assigns them again), or both, as the timing falls: either
    way every event is handled, once. The shortest session keeps a rejoin short."""
    db_url = f"sqlite:///{tmp_path / 'readmodels.db'}"
    group = f"{store.prefix}recovery"
    lines: list[str] = []
    for partition in range(STORE_PARTITIONS):
        store.submit(partition, orders(partition, 0, 6))

    def run(stop: threading.Event) -> None:
        with Database(db_url) as db:

            def start(recorder: ApplicationRecorder) -> Worker:
                return ledger_runner(db, recorder)

            GroupRunner(
                store.url,
                short_session(group),
                start,
                out=lines.append,
                backoff=quick_backoff(lines),
            ).run(stop=stop, poll_s=POLL_S)

    def everything() -> int:
        return sum(store.notifications(p) for p in range(STORE_PARTITIONS))

    with ledger_db(db_url) as db:
        member = Running(run, lines)
        running.append(member)
        before = everything()
        member.until("the events before the restart", lambda: handled(db) == before)
        kafka_broker.restart()
        for partition in range(STORE_PARTITIONS):
            store.submit(partition, orders(partition, 6, 6))
        total = everything()
        member.until("the events after the restart", lambda: handled(db) == total)
        member.finish()
        rows = ledger(db)

    owned = [line for line in lines if line.startswith(f"group {group}: partitions ")]
    assert {line.rsplit(" partitions ", 1)[1] for line in owned} == {"0, 1", "none"}, owned
    assert len(rows) == total
    alone = uninterrupted(store, f"sqlite:///{tmp_path / 'alone.db'}", range(STORE_PARTITIONS))
    assert rows == alone


def test_a_broker_that_stays_away_ends_the_run_after_the_attempt_limit(
    kafka_broker: Broker, kafka_prefix: str
) -> None:
    url = f"kafka://{kafka_broker.bootstrap}?prefix={kafka_prefix}&partition=0"
    lines: list[str] = []
    runner = PartitionRunner(
        f"{url}&timeout_s={FAILING_TIMEOUT_S}",
        lambda _recorder: _never(),
        backoff=quick_backoff(lines, attempts_max=3),
    )
    with pytest.raises(RecoveryError, match="gave up after 3 attempts in a row failed") as caught:
        runner.run(stop=threading.Event(), poll_s=POLL_S)
    # The last error is named: whichever step of opening the store ran out of its 1 ms.
    assert re.search(r"KafkaTimeoutError|NoBrokersAvailable", str(caught.value))
    waits = [line.split("; retrying in ")[1] for line in retried(lines)]
    assert waits == ["0.1 s (attempt 1 of 3)", "0.2 s (attempt 2 of 3)", "0.4 s (attempt 3 of 3)"]


def test_a_group_member_whose_store_keeps_failing_keeps_its_membership_to_the_limit(
    kafka_broker: Broker, store: KafkaStore
) -> None:
    """Store failures reopen the workers only: the member stays in the group, with its
    partitions, until the attempt limit ends the run."""
    store.submit(0, orders(0, 0, 1))
    failing = store.url.replace(f"timeout_s={TIMEOUT_S}", f"timeout_s={FAILING_TIMEOUT_S}")
    group = f"{store.prefix}failing"
    lines: list[str] = []
    runner = GroupRunner(
        failing,
        short_session(group),
        lambda _recorder: _never(),
        out=lines.append,
        backoff=quick_backoff(lines, attempts_max=3),
    )
    with pytest.raises(RecoveryError, match="gave up after 3 attempts") as caught:
        runner.run(stop=threading.Event(), poll_s=POLL_S)
    # Whichever step of opening the store ran out of its 1 ms first.
    assert re.search(r"cannot (create the store's topics|reach Kafka)", str(caught.value))
    assert len(retried(lines)) == 3
    assert not any(": partitions " in line for line in lines), "no worker ever started"
    assert not any("joining again" in line for line in lines), lines


def _never() -> Worker:
    raise AssertionError("the store never opened: no worker starts")


class Unwritable(Consumer):
    """Rows into a table that is not there: the read-model database refuses them."""

    name: ClassVar[str] = "unwritable"

    def handle(self, db: Database, event: StreamEvent) -> Effects:
        return Effects(writes=[("INSERT INTO missing VALUES (?)", (event.stream_id,))])


def test_a_sql_failure_stops_the_run_at_once_without_a_retry(
    store: KafkaStore, tmp_path: Path
) -> None:
    store.submit(0, orders(0, 0, 2))
    lines: list[str] = []
    with connect(f"sqlite:///{tmp_path / 'readmodels.db'}") as db:
        runners: list[Runner] = []

        def start(recorder: ApplicationRecorder) -> Runner:
            runners.append(Runner(Unwritable(), db, recorder, None))
            return runners[-1]

        runner = PartitionRunner(store.at(0), start, backoff=quick_backoff(lines))
        with pytest.raises(sqlite3.OperationalError, match="no such table: missing"):
            runner.run(stop=threading.Event(), poll_s=POLL_S)
        assert runners[0].checkpoint == 0, "nothing of the failed batch was written"
    assert lines == []


def test_consume_stops_at_once_on_sigterm_while_it_waits_to_retry(
    kafka_broker: Broker, kafka_prefix: str, tmp_path: Path
) -> None:
    store = f"kafka://{kafka_broker.bootstrap}?prefix={kafka_prefix}&partition=0"
    process = subprocess.Popen(
        [
            STOCKLEDGER,
            "consume",
            "alerts",
            "--store",
            f"{store}&timeout_s={FAILING_TIMEOUT_S}",
            "--db",
            f"sqlite:///{tmp_path / 'rm.db'}",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    try:
        for line in process.stderr:
            # The fourth wait is 4 s: stopped within it, the stop did not wait it out.
            if "retrying in 4.0 s" in line:
                break
        else:
            pytest.fail("the consumer never waited to retry")
        assert re.search(r"cannot (create the store's topics|reach Kafka)", line), line
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(WAIT_S)
        stopped_s = time.monotonic() - signalled
    finally:
        process.kill()
        process.wait()
    assert code == 0
    assert stopped_s < 2.0, f"took {stopped_s:.1f} s to stop"


def test_consume_stops_with_the_store_s_refusal_of_a_wrong_configuration(
    store: KafkaStore, tmp_path: Path
) -> None:
    store.submit(0, orders(0, 0, 1))
    # Partitions not named: the URL's own settings hold, and the broker's topics refuse it.
    wrong = store.url.replace(f"&partitions={STORE_PARTITIONS}", f"&partition={STORE_PARTITIONS}")
    result = subprocess.run(
        [
            STOCKLEDGER,
            "consume",
            "alerts",
            "--store",
            wrong,
            "--db",
            f"sqlite:///{tmp_path / 'rm.db'}",
        ],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert result.returncode == 1, result.stderr
    assert f"has {STORE_PARTITIONS} partitions; this store writes partition" in result.stderr
    assert "retrying" not in result.stderr


def test_the_kafka_sink_fails_while_the_broker_is_away_and_sends_again_after(
    kafka_broker: Broker, store: KafkaStore
) -> None:
    settings = kafka_settings(store.url)
    sink = KafkaSink(settings)
    first, second = (
        ConfigureSlot(command_id=f"cfg-{n}", sku=f"sku-{n}", location="w1") for n in (1, 2)
    )
    try:
        sink.send([first])
        kafka_broker.stop()
        try:
            with pytest.raises(SinkError) as caught:
                sink.send([second])
        finally:
            kafka_broker.start()
        assert transient(caught.value), "a consumer waits and sends the batch again"
        sink.send([second])
    finally:
        sink.close()
    consumer = KafkaConsumer(
        settings.topic(COMMANDS_TOPIC),
        bootstrap_servers=kafka_broker.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3_000,
    )
    try:
        ids = {json_decoder.decode(record.value).command_id for record in consumer}
    finally:
        consumer.close()
    # The failed send may have landed too: the engine answers it as a retry, by its id.
    assert ids == {"cfg-1", "cfg-2"}
