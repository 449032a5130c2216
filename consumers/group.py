"""Consumer groups on the Kafka store: the processes of one consumer share its partitions.

A Kafka store has one writer per partition, and that writer numbers the
notifications of its partition across the `orders`, `stock` and `credit`
topics together: notification 7 of partition 1 may be in `stock`, 8 in
`orders`. So the unit of work is a store partition, a partition number, never
one topic's partition: whoever handles partition 1 must read partition 1 of
all three topics, in notification order, and keeps one checkpoint for it.

Membership. Each process joins the Kafka consumer group `<prefix>stockledger-
consume-<consumer name>` (or the one it is given) subscribed to one topic
only, `<prefix>orders`, and takes each partition p the group assigns it there
as store partition p. Every topic of a store is created with the same number
of partitions, so partition p of `orders` stands for partition p of them all;
any of Kafka's own assignors then keeps a partition number's topics together,
which a subscription to all three would not (they could give `orders`-1 to
one process and `stock`-1 to another). A custom assignor grouping the three
topics by partition number would do the same with more code and no gain. The
sticky assignor (eager protocol) is used: every member gives up all its
partitions before any member is assigned any, so no partition is ever handled
by two live members at once, and a member mostly gets its own partitions
back, so it keeps its readers open across a rebalance.

The membership topic's records are never read: its partitions are paused
once assigned, and each assigned partition's events are read through the
store (`engine.store.kafka`, opened at that partition).

Checkpoints. Where a partition's work resumes is the checkpoint in the read
model's SQL database, moved in the same transaction as the consumer's rows
(`consumers.consumer`). The group commits no offsets to Kafka: they would be
a second record of progress, committed apart from the rows and so able to
disagree with them. A partition newly assigned resumes from its SQL
checkpoint, wherever it was handled before.

The loop, in order:

1. poll the group: heartbeats are sent by kafka-python's own IO thread, and
   rebalances happen inside this poll, so the rebalance listener only ever
   runs between batches;
2. open a worker (a reader of the store at that partition and the consumer
   over it) for each partition newly assigned, and close the workers of the
   partitions given up: so a revoked partition's last batch has committed,
   or never began, when it is given up;
3. give each owned partition a turn of at most `TURN_S`: batches until it
   has nothing new, or its turn is over, or the group took it away (the
   group is polled after each batch);
4. when no partition had anything new, poll the group for `poll_s`.

A member presumed dead (its heartbeats stopped for a session: a paused
process, a network split; or it did not poll for `max_poll_interval_ms`)
loses its partitions to the others while it may still be in a batch. That
batch's commands may be sent twice (the engine answers the second as a
retry, by command id), but its rows are not written twice: the checkpoint
moves by compare-and-set, so the batch that loses drops its rows.

A broker restart: kafka-python reconnects the membership on its own (the
coordinator, back, may rebalance the group; a member it then leaves without
an assignment starts over at `settle_timeout_ms`, below), while the store's
reads fail (`OperationalError`) once the broker is away longer than the
store's `timeout_s`. The workers are then closed and, after a growing wait,
opened again from their SQL checkpoints; the membership is kept, so this
member's failure does not rebalance the group. A membership that fails
(`GroupError` caused by a retriable Kafka error) is closed too, and the member
joins again. What counts as transient, and the bounds of the wait:
`consumers.recovery`.

A member left unsettled (joining, or revoked and not assigned again) for
`settle_timeout_ms` closes its Kafka consumer and joins with a new one; see
`_Membership` for the kafka-python stall this recovers from.

The embedded store and a Kafka URL that names `partition=N` have no group:
one process reads that one partition.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, Protocol

from eventsourcing.persistence import ApplicationRecorder, InfrastructureFactory
from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from kafka.errors import KafkaError

from consumers.recovery import Backoff, ride_out
from engine.kafka.service import kafka_settings
from engine.store import kafka_environment, open_factory
from engine.store.kafka import ENGINE_TOPICS, RECONNECT_BACKOFF_MAX_MS, KafkaSettings

__all__ = [
    "GROUP_PREFIX",
    "GroupError",
    "GroupRunner",
    "GroupSettings",
    "Worker",
    "default_group",
    "is_grouped",
]

GROUP_PREFIX: Final = "stockledger-consume-"
# The topic whose partitions stand for the store's partitions (see above).
MEMBERSHIP_TOPIC: Final = ENGINE_TOPICS[0]
# Kafka brokers refuse sessions under `group.min.session.timeout.ms`, 6 s by default.
SESSION_TIMEOUT_MS: Final = 10_000
HEARTBEAT_INTERVAL_MS: Final = 1_000
# A member that does not poll for this long leaves the group; batches are
# bounded, so only a read-model catch-up from far behind comes near it.
MAX_POLL_INTERVAL_MS: Final = 300_000
# A partition's turn: past it the other partitions get theirs.
TURN_S: Final = 1.0
# How long `once` waits to join and be assigned partitions before it gives up.
JOIN_TIMEOUT_S: Final = 60.0
# How often a member looks for a membership topic that is not there yet.
TOPIC_WAIT_S: Final = 1.0
# A member joining, or revoked and not assigned again, for this long starts over.
SETTLE_TIMEOUT_MS: Final = 60_000
# A group request's answer is awaited for a session and this much more.
REQUEST_MARGIN_MS: Final = 5_000
CLOSE_TIMEOUT_MS: Final = 5_000
GROUP_CHARS_MAX: Final = 249


class GroupError(RuntimeError):
    """The group could not be joined or kept."""


class Worker(Protocol):
    """A consumer's work over one partition of the store (`consumers.consumer.Runner`)."""

    def run_while(self, keep_going: Callable[[], bool]) -> int:
        """Batches until nothing is new or `keep_going()`, asked after each, is
        false; 0 if nothing was new, else how much was done, in the worker's unit."""
        ...


def is_grouped(store_url: str) -> bool:
    """Whether consumers of this store join a group: a Kafka store whose URL names no partition."""
    if not store_url.startswith("kafka:"):
        return False
    return "KAFKA_PARTITION" not in kafka_environment(store_url)


def default_group(prefix: str, consumer_name: str) -> str:
    """The group of a consumer on a store: one per topic prefix and consumer."""
    return f"{prefix}{GROUP_PREFIX}{consumer_name}"


@dataclass(frozen=True)
class GroupSettings:
    """The group to join and its timing (`session_timeout_ms` within the broker's bounds)."""

    group: str
    session_timeout_ms: int = SESSION_TIMEOUT_MS
    heartbeat_interval_ms: int = HEARTBEAT_INTERVAL_MS
    max_poll_interval_ms: int = MAX_POLL_INTERVAL_MS
    settle_timeout_ms: int = SETTLE_TIMEOUT_MS

    def __post_init__(self) -> None:
        if not 1 <= len(self.group) <= GROUP_CHARS_MAX:
            msg = f"a group id has 1 to {GROUP_CHARS_MAX} characters, got {len(self.group)}"
            raise ValueError(msg)
        if not 0 < self.heartbeat_interval_ms * 3 <= self.session_timeout_ms:
            msg = (
                f"heartbeat_interval_ms ({self.heartbeat_interval_ms}) must be positive and "
                f"at most a third of session_timeout_ms ({self.session_timeout_ms})"
            )
            raise ValueError(msg)
        if self.settle_timeout_ms < self.session_timeout_ms + REQUEST_MARGIN_MS:
            msg = (
                f"settle_timeout_ms ({self.settle_timeout_ms}) must leave a group request "
                f"its time: at least session_timeout_ms + {REQUEST_MARGIN_MS}"
            )
            raise ValueError(msg)
        if self.max_poll_interval_ms < self.session_timeout_ms:
            msg = (
                f"max_poll_interval_ms ({self.max_poll_interval_ms}) must be at least "
                f"session_timeout_ms ({self.session_timeout_ms})"
            )
            raise ValueError(msg)


class _Membership(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python is untyped
    """This process's share of the store's partitions, as the group assigns them.

    The listener runs inside `poll` (on kafka-python's IO thread while the
    caller waits in `poll`); it only changes the set of owned partitions,
    which the loop reads after each poll.

    A member unsettled (joining, or revoked and not yet assigned again) for
    longer than `settle_timeout_ms` starts over with a new Kafka consumer:
    kafka-python 3.0 has been seen here to lose the answer to a leader's
    SyncGroup and then never find the coordinator again, so that the member
    is dropped from the group and never rejoins on its own.
    """

    def __init__(
        self, store: KafkaSettings, group: GroupSettings, out: Callable[[str], None]
    ) -> None:
        self.store = store
        self.settings = group
        self.out = out
        self.group = group.group
        self.topic = store.topic(MEMBERSHIP_TOPIC)
        self._owned: frozenset[int] = frozenset()
        self._lock = threading.Lock()
        self._unsettled_since: float | None = None
        self.assignments = 0
        self._consumer = self._new_consumer()

    def _new_consumer(self) -> KafkaConsumer:
        store, group = self.store, self.settings
        try:
            return KafkaConsumer(
                bootstrap_servers=store.bootstrap_servers,
                group_id=group.group,
                client_id=f"{group.group}-member",
                enable_auto_commit=False,
                partition_assignment_strategy=(StickyPartitionAssignor,),
                session_timeout_ms=group.session_timeout_ms,
                heartbeat_interval_ms=group.heartbeat_interval_ms,
                max_poll_interval_ms=group.max_poll_interval_ms,
                request_timeout_ms=group.session_timeout_ms + REQUEST_MARGIN_MS,
                reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
                allow_auto_create_topics=False,
            )
        except KafkaError as error:
            msg = f"cannot join group {group.group!r} at {store.bootstrap_servers}: {error}"
            raise GroupError(msg) from error

    def subscribe(self, *, deadline: float | None, stop: threading.Event | None) -> bool:
        """Join the group once this client knows the membership topic; False if stopped first.

        kafka-python refreshes metadata before a first join only for pattern
        subscriptions: joined earlier, the leader would assign no partitions
        of a topic it has no metadata for, until its next metadata refresh.
        """
        waiting = False
        while not self._partitions():
            if deadline is not None and time.monotonic() > deadline:
                msg = f"no topic {self.topic!r} on the broker: has the engine created the store?"
                raise GroupError(msg)
            if not waiting:
                self.out(
                    f"group {self.group}: waiting for topic {self.topic} (the engine creates it)"
                )
                waiting = True
            if stop is None:
                time.sleep(TOPIC_WAIT_S)
            elif stop.wait(TOPIC_WAIT_S):
                return False
        with self._lock:
            self._unsettled_since = time.monotonic()
        self._consumer.subscribe([self.topic], listener=self)
        return True

    def _partitions(self) -> set[int]:
        try:
            partitions: set[int] = self._consumer.partitions_for_topic(self.topic)
        except KafkaError as error:
            msg = f"group {self.group!r}: cannot read the metadata of {self.topic!r}: {error}"
            raise GroupError(msg) from error
        return partitions

    @property
    def owned(self) -> frozenset[int]:
        with self._lock:
            return self._owned

    @property
    def settled(self) -> bool:
        """Assigned its partitions by the group, with no rebalance begun since."""
        with self._lock:
            return self._unsettled_since is None

    def poll(self, timeout_s: float = 0.0) -> frozenset[int]:
        """Heartbeats and rebalances; the partitions owned after."""
        try:
            self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=1)
            # Paused, the membership topic is never fetched: poll only keeps membership.
            # Paused here rather than in the listener, which runs on kafka-python's IO thread.
            unpaused = self._consumer.assignment() - self._consumer.paused()
            if unpaused:
                self._consumer.pause(*unpaused)
        except KafkaError as error:
            msg = f"group {self.group!r}: {error}"
            raise GroupError(msg) from error
        self._settle()
        return self.owned

    def _settle(self) -> None:
        """A new consumer if this one has been unsettled too long (see the class docstring)."""
        with self._lock:
            since = self._unsettled_since
        if since is None or time.monotonic() - since < self.settings.settle_timeout_ms / 1000:
            return
        self.out(
            f"group {self.group}: no assignment for {self.settings.settle_timeout_ms} ms; "
            "joining again with a new consumer"
        )
        self._consumer.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS)
        self._consumer = self._new_consumer()
        with self._lock:
            self._owned = frozenset()
            self._unsettled_since = time.monotonic()
        self._consumer.subscribe([self.topic], listener=self)

    def on_partitions_revoked(self, revoked: Any) -> None:
        self._drop(revoked)

    def on_partitions_lost(self, lost: Any) -> None:
        self._drop(lost)

    def on_partitions_assigned(self, assigned: Any) -> None:
        mine = {tp.partition for tp in assigned if tp.topic == self.topic}
        with self._lock:
            self._owned = self._owned | mine
            self._unsettled_since = None
            self.assignments += 1

    def _drop(self, partitions: Any) -> None:
        gone = {tp.partition for tp in partitions if tp.topic == self.topic}
        with self._lock:
            self._owned = self._owned - gone
            if self._unsettled_since is None:
                self._unsettled_since = time.monotonic()

    def close(self) -> None:
        """Give the partitions up and leave the group, so the others take them at once."""
        self._consumer.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS)


class GroupRunner:
    """Runs a consumer over the partitions of a Kafka store that its group assigns this process.

    `start(recorder)` makes the worker of one partition, given the store
    opened at it; `out` hears membership changes and failures retried; `backoff`
    paces the retries (`consumers.recovery`).
    """

    def __init__(
        self,
        store_url: str,
        settings: GroupSettings,
        start: Callable[[ApplicationRecorder], Worker],
        *,
        out: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
        backoff: Backoff | None = None,
    ) -> None:
        if not is_grouped(store_url):
            msg = (
                f"{store_url!r} has no consumer groups: groups need a Kafka store URL "
                "that names no partition (kafka://host:port?prefix=...)"
            )
            raise ValueError(msg)
        self.store_url = store_url
        self.settings = settings
        self.start = start
        self.out = out
        self.backoff = backoff or Backoff(f"group {settings.group}", out)
        self._factories: dict[int, InfrastructureFactory[Any]] = {}
        self._workers: dict[int, Worker] = {}

    @property
    def partitions(self) -> frozenset[int]:
        """The partitions this process works on now."""
        return frozenset(self._workers)

    def run(
        self, *, stop: threading.Event | None, poll_s: float, join_timeout_s: float = JOIN_TIMEOUT_S
    ) -> None:
        """Steps 1 to 4 of the module docstring until `stop` is set.

        Without `stop`: join, wait (at most `join_timeout_s`) to be assigned
        partitions, catch them up until the group is settled and they have
        nothing new, leave the group.

        A transient failure (`consumers.recovery.transient`) of the store or
        the sink closes the workers, and one of the membership also leaves the
        group; after a wait (`Backoff`) they are opened again and each
        partition resumes from its SQL checkpoint. A failure of the store
        keeps the membership: kafka-python reconnects it on its own, and
        leaving would make the whole group rebalance for a broker restart.
        """
        ride_out(lambda: self._member(stop, poll_s, join_timeout_s), self.backoff, stop)

    def _member(self, stop: threading.Event | None, poll_s: float, join_timeout_s: float) -> None:
        """One membership of the group, until stopped (or, without `stop`, caught up)."""
        deadline = time.monotonic() + join_timeout_s if stop is None else None
        with self._membership() as membership:
            if not membership.subscribe(deadline=deadline, stop=stop):
                return
            if deadline is not None:
                self._join(membership, deadline)
            # The workers are reopened by `_sync`: not before the broker answers again.
            ride_out(
                lambda: self._turns(membership, stop, poll_s),
                self.backoff,
                stop,
                store_url=self.store_url,
                passing=(GroupError,),
                after_failure=self._close_workers,
            )

    def _turns(self, membership: _Membership, stop: threading.Event | None, poll_s: float) -> None:
        """Turns until stopped (or, without `stop`, done)."""
        while stop is None or not stop.is_set():
            done = self._turn(membership, stop, poll_s)
            self.backoff.recovered()
            if done:
                return

    def _turn(self, membership: _Membership, stop: threading.Event | None, poll_s: float) -> bool:
        """Steps 1 to 4 once; whether a run without `stop` is done."""
        membership.poll()
        self._sync(membership)
        if self._round(membership, stop):
            return False
        # Mid-rebalance nothing is owned, and nothing new says nothing.
        if stop is None and membership.settled:
            return True
        membership.poll(poll_s)
        self._sync(membership)
        return False

    @contextmanager
    def _membership(self) -> Iterator[_Membership]:
        membership = _Membership(kafka_settings(self.store_url), self.settings, self.out)
        try:
            yield membership
        finally:
            membership.close()
            self._close_workers()

    def _join(self, membership: _Membership, deadline: float) -> None:
        """Wait for the group's first assignment to this member (which may be no partition)."""
        while not membership.assignments:
            if time.monotonic() > deadline:
                msg = f"group {self.settings.group!r} assigned this member nothing in time"
                raise GroupError(msg)
            membership.poll(0.1)

    def _round(self, membership: _Membership, stop: threading.Event | None) -> bool:
        """Step 3: a turn for each owned partition; whether any had something new."""
        done = False
        for partition in sorted(self._workers):
            deadline = time.monotonic() + TURN_S

            def keep_going(partition: int = partition, deadline: float = deadline) -> bool:
                return (
                    partition in membership.poll()
                    and time.monotonic() < deadline
                    and (stop is None or not stop.is_set())
                )

            if partition not in membership.owned:
                continue
            done |= self._workers[partition].run_while(keep_going) > 0
        return done

    def _sync(self, membership: _Membership) -> None:
        """Step 2: workers for the partitions owned, and, once the group has settled, for no
        other. Mid-rebalance a revoked partition's worker is kept, idle (`_round` skips it):
        the sticky assignor most likely hands the partition back, and a worker reopened
        would read its partition of the store from the start again."""
        owned = membership.owned
        gone = self.partitions - owned if membership.settled else frozenset()
        new = owned - self.partitions
        if not gone and not new:
            return
        for partition in sorted(gone):
            del self._workers[partition]
            self._factories.pop(partition).close()
        for partition in sorted(new):
            factory = open_factory(self.store_url, KAFKA_PARTITION=str(partition))
            try:
                self._workers[partition] = self.start(factory.application_recorder())
            except BaseException:
                factory.close()
                raise
            self._factories[partition] = factory
        self._say_partitions()

    def _say_partitions(self) -> None:
        listed = ", ".join(map(str, sorted(self.partitions))) or "none"
        self.out(f"group {self.settings.group}: partitions {listed}")

    def _close_workers(self) -> None:
        """Close every worker's store: after a failure, or when the membership ends."""
        if not self._workers:
            return
        self._workers.clear()
        while self._factories:
            self._factories.popitem()[1].close()
        self._say_partitions()
