"""Consumer groups on a real broker: two members share a two-partition store, one leaves,
the other takes its partition over; every event is handled once, by one member at a time.

The store's two partitions hold disjoint streams (`sku-p0`, `o-p1-3`, ...), each
written by its own engine, as two writers of one store would. The consumer under
test, `Ledger`, inserts a row per event it handles, keyed by stream and version,
so an event handled twice into the rows fails its batch, and one never handled
is missing from the rows. `Watch` records which member is inside a batch of which
partition, and every overlap.
"""

from __future__ import annotations

import faulthandler
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import pytest
from eventsourcing.persistence import ApplicationRecorder
from kafka import KafkaConsumer
from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

from consumers.consumer import Consumer, Effects, Runner
from consumers.group import GroupRunner, GroupSettings, Worker, default_group, is_grouped
from engine.commands import AnyCommand
from engine.events import StreamEvent
from engine.kafka import Broker
from engine.store import open_factory
from projections.db import Database, connect
from projections.runner import partition_of
from tests.consumers.conftest import STORE_PARTITIONS, Json, KafkaStore, credit, place, slot

BATCH_NOTIFICATIONS = 3
WAIT_S = 60.0
POLL_S = 0.05
# The shortest a 10 s session allows: a member whose client stalls starts over soon.
SETTLE_TIMEOUT_MS = 15_000
# The broker's shortest session (group.min.session.timeout.ms), and the settle timeout it allows.
SHORTEST_SESSION_MS = 6_000
SHORTEST_SETTLE_MS = SHORTEST_SESSION_MS + 5_000

_commands = msgspec.json.Decoder(list[AnyCommand])


class Ledger(Consumer):
    """A row per event handled: which partition, which member."""

    name: ClassVar[str] = "ledger"

    def __init__(self, member: str, partition: int) -> None:
        self.member = member
        self.partition = partition

    def ensure_schema(self, db: Database) -> None:
        with db.transaction():
            db.execute(
                "CREATE TABLE IF NOT EXISTS ledger (stream_id TEXT NOT NULL, "
                "version BIGINT NOT NULL, kind TEXT NOT NULL, partition BIGINT NOT NULL, "
                "member TEXT NOT NULL, PRIMARY KEY (stream_id, version))"
            )

    def handle(self, db: Database, event: StreamEvent) -> Effects:
        row = (
            event.stream_id,
            event.version,
            type(event.data).__name__,
            self.partition,
            self.member,
        )
        # A plain insert: an event handled a second time into the rows fails its batch.
        return Effects(writes=[("INSERT INTO ledger VALUES (?, ?, ?, ?, ?)", row)])


def ledger(db: Database) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in db.execute("SELECT * FROM ledger ORDER BY 1, 2")]


def orders(partition: int, first: int, count: int) -> list[Json]:
    """Orders `first` to `first + count - 1` of a partition's own customer and SKU."""
    setup = [*slot(f"sku-p{partition}", 100_000), credit(f"c-p{partition}", 100_000_000)]
    placed = [
        place(f"o-p{partition}-{n}", f"c-p{partition}", f"sku-p{partition}", 1 + n % 3)
        for n in range(first, first + count)
    ]
    return (setup if first == 0 else []) + placed


@dataclass
class Watch:
    """Who is inside a batch of which partition; each overlap of two members on one."""

    holding: dict[int, str] = field(default_factory=dict)
    overlaps: list[tuple[int, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self, partition: int, member: str) -> None:
        with self.lock:
            other = self.holding.get(partition)
            if other is not None and other != member:
                self.overlaps.append((partition, other, member))
            self.holding[partition] = member

    def leave(self, partition: int, member: str) -> None:
        with self.lock:
            if self.holding.get(partition) == member:
                del self.holding[partition]


@dataclass
class Watched:
    """A runner whose batches are marked in `watch`: from the start of its turn and
    after each check that it may go on, to the next check (where the group is polled)."""

    runner: Runner
    watch: Watch
    member: str

    def run_while(self, keep_going: Callable[[], bool]) -> int:
        partition = self.runner.partition

        def watched() -> bool:
            self.watch.leave(partition, self.member)
            going = keep_going()
            if going:
                self.watch.enter(partition, self.member)
            return going

        self.watch.enter(partition, self.member)
        try:
            return self.runner.run_while(watched)
        finally:
            self.watch.leave(partition, self.member)


class Member:
    """One member of the group in a thread of its own, with its own read-model connection."""

    def __init__(self, name: str, store: KafkaStore, db_url: str, group: str, watch: Watch) -> None:
        self.name = name
        self.lines: list[str] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self._args = (store, db_url, group, watch)
        self._thread = threading.Thread(target=self._run, name=name)
        self._thread.start()

    def _run(self) -> None:
        store, db_url, group, watch = self._args
        try:
            with Database(db_url) as db:

                def start(recorder: ApplicationRecorder) -> Worker:
                    ledger = Ledger(self.name, partition_of(recorder))
                    runner = Runner(
                        ledger, db, recorder, None, batch_notifications_max=BATCH_NOTIFICATIONS
                    )
                    return Watched(runner, watch, self.name)

                settings = GroupSettings(group, settle_timeout_ms=SETTLE_TIMEOUT_MS)
                GroupRunner(store.url, settings, start, out=self.lines.append).run(
                    stop=self.stop, poll_s=POLL_S
                )
        except BaseException as error:
            self.error = error

    @property
    def owned(self) -> str | None:
        """The partitions of its last membership line, as `0, 1`, `0` or `none`."""
        heads = [line for line in self.lines if ": partitions " in line]
        return heads[-1].split(": partitions ", 1)[1] if heads else None

    def leave(self) -> None:
        self.stop.set()
        self._thread.join(WAIT_S)
        assert not self._thread.is_alive(), f"{self.name} did not stop"
        assert self.error is None, repr(self.error)


def wait_for(what: str, done: Callable[[], bool], members: list[Member]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        errors = [m.error for m in members if m.error is not None]
        assert not errors, repr(errors)
        if time.monotonic() > deadline:
            # Where every thread is, members and kafka-python's IO threads, to tell a stall.
            faulthandler.dump_traceback(all_threads=True)
            pytest.fail(f"waited {WAIT_S} s for {what}")
        time.sleep(0.05)


@pytest.fixture
def members() -> Iterator[list[Member]]:
    started: list[Member] = []
    yield started
    for member in started:
        member.stop.set()
    for member in started:
        member._thread.join(WAIT_S)


def test_two_members_share_the_partitions_and_one_takes_over_when_the_other_leaves(
    kafka_store: KafkaStore, tmp_path: Path, members: list[Member]
) -> None:
    store = kafka_store
    db_url = f"sqlite:///{tmp_path / 'readmodels.db'}"
    group = default_group("test-", Ledger.name) + "-" + tmp_path.name
    watch = Watch()
    for partition in range(STORE_PARTITIONS):
        store.submit(partition, orders(partition, 0, 6))

    def handled(db: Database) -> int:
        return int(db.execute("SELECT COUNT(*) FROM ledger")[0][0])

    with Database(db_url) as db:
        first = Member("first", store, db_url, group, watch)
        members.append(first)
        wait_for("the first member to own both partitions", lambda: first.owned == "0, 1", members)
        second = Member("second", store, db_url, group, watch)
        members.append(second)
        wait_for(
            "the two members to own a partition each",
            lambda: {first.owned, second.owned} == {"0", "1"},
            members,
        )
        for partition in range(STORE_PARTITIONS):
            store.submit(partition, orders(partition, 6, 6))
        left = int(second.owned or "")
        by_second = "SELECT COUNT(*) FROM ledger WHERE member = 'second' AND partition = ?"
        wait_for(
            "the second member to handle its partition's new events",
            lambda: int(db.execute(by_second, (left,))[0][0]) > 0,
            members,
        )
        second.leave()
        assert second.owned == "none"
        wait_for(
            "the first member to take both partitions back",
            lambda: first.owned == "0, 1",
            members,
        )
        for partition in range(STORE_PARTITIONS):
            store.submit(partition, orders(partition, 12, 6))
        total = sum(store.notifications(p) for p in range(STORE_PARTITIONS))
        wait_for("every event handled", lambda: handled(db) >= total, members)
        first.leave()
        rows = ledger(db)

    assert watch.overlaps == []
    assert len(rows) == total
    # The orders placed after the second member left, on the partition it had.
    taken_over = {f"order-o-p{left}-{n}" for n in range(12, 18)}
    assert {r[4] for r in rows if r[0] in taken_over} == {"first"}
    assert {r[4] for r in rows if r[3] == left} == {"first", "second"}

    with connect(f"sqlite:///{tmp_path / 'single.db'}") as single:
        for partition in range(STORE_PARTITIONS):
            factory = open_factory(store.at(partition))
            try:
                recorder = factory.application_recorder()
                Runner(Ledger("single", partition), single, recorder, None).catch_up()
            finally:
                factory.close()
        alone = ledger(single)
    assert [r[:4] for r in rows] == [r[:4] for r in alone]


def test_a_store_url_naming_a_partition_has_no_group(kafka_store: KafkaStore) -> None:
    store = kafka_store
    assert is_grouped(store.url)
    assert not is_grouped(store.at(1))
    assert not is_grouped("sqlite:///store.db")
    with pytest.raises(ValueError, match="names no partition"):
        GroupRunner(store.at(1), GroupSettings("g"), lambda _recorder: _never())


def _never() -> Worker:
    raise AssertionError("no worker is started without a group")


class Idle:
    """A worker with nothing to do."""

    def run_while(self, keep_going: Callable[[], bool]) -> int:
        return 0


def test_a_member_kept_waiting_past_its_settle_timeout_joins_again_and_then_takes_its_share(
    kafka_broker: Broker, kafka_store: KafkaStore
) -> None:
    """A member of the group that stops polling holds a rebalance up until its own rebalance
    timeout; the member waiting on it joins again with a new consumer at its settle timeout."""
    group = f"{kafka_store.prefix}stalled"
    kafka_store.submit(0, orders(0, 0, 1))
    stalled = KafkaConsumer(
        bootstrap_servers=kafka_broker.bootstrap,
        group_id=group,
        max_poll_interval_ms=120_000,
        enable_auto_commit=False,
        partition_assignment_strategy=(StickyPartitionAssignor,),
    )
    stalled.subscribe([f"{kafka_store.prefix}orders"])
    deadline = time.monotonic() + WAIT_S
    while not stalled.assignment():
        assert time.monotonic() < deadline, "the stalled member was never assigned"
        stalled.poll(timeout_ms=100)
    lines: list[str] = []
    stop = threading.Event()
    runner = GroupRunner(
        kafka_store.url,
        GroupSettings(
            group,
            session_timeout_ms=SHORTEST_SESSION_MS,
            heartbeat_interval_ms=SHORTEST_SESSION_MS // 3,
            settle_timeout_ms=SHORTEST_SETTLE_MS,
        ),
        lambda _recorder: Idle(),
        out=lines.append,
    )

    def run() -> None:
        try:
            runner.run(stop=stop, poll_s=POLL_S)
        except BaseException as error:
            lines.append(f"failed: {error!r}")

    waiting = threading.Thread(target=run)
    waiting.start()
    try:
        again = f"group {group}: no assignment for {SHORTEST_SETTLE_MS} ms; joining again"
        deadline = time.monotonic() + WAIT_S
        while not any(line.startswith(again) for line in lines):
            assert time.monotonic() < deadline, lines
            time.sleep(0.1)
        assert not any(": partitions " in line for line in lines), "assigned while stalled"
        stalled.close()
        while f"group {group}: partitions 0, 1" not in lines:
            assert time.monotonic() < deadline, lines
            time.sleep(0.1)
    finally:
        stalled.close()
        stop.set()
        waiting.join(WAIT_S)
