"""The Kafka store: eventsourcing's recorder interfaces on Kafka topics.

Topics, each read and written at one partition, the writer's (`partition`):

    <prefix>orders, <prefix>stock, <prefix>credit   the engine's events, by the
        part of the stored topic before ':' (`stock:StockReserved` -> stock)
    <prefix>events      every other stored topic (any eventsourcing application)
    <prefix>tracking    each upstream application's last notification id
    <prefix>snapshots   `aggregate_recorder("snapshots")`, one record per snapshot,
        keyed by stream id
    <prefix><purpose>   any other aggregate recorder purpose, as snapshots

Event topics are created `cleanup.policy=delete`, `retention.ms=-1`,
`retention.bytes=-1`: never compacted, never expired. Tracking and snapshot
topics are compacted: only the newest record of a key matters there. Topics
are created by `create_table()` (the `CREATE_TABLE` setting, on by default);
a topic that already exists is checked instead, and one whose cleanup policy,
retention or record size differs from these is refused (`InterfaceError`)
before anything is written to it.

Records. kafka-python costs some 20-25 us a record, so one `insert_events`
call writes one record per Kafka topic it touches, not one per event: the
value is that topic's share of the commit packed by `engine.store.packing`
(each event keeps its id, stream, version and topic). Every record of a
commit is sent in one Kafka transaction, so a commit is all-or-nothing across
topics. A record holding one stream's events is keyed by that stream id;
one holding several has no key (partitions are chosen explicitly).

Notification ids. The single writer of a partition numbers events itself:
a commit's events get the next consecutive ids, in the order given, as on
the embedded store. Each record carries the `stockledger-commit` header, a
MessagePack array [first id of the commit, events in the commit, records in
the commit, positions], where positions are the indexes in the commit of the
record's events (nil when the record holds the whole commit). A reader
indexes commits by first id; a commit becomes visible to it once it has read
all of its records (read_committed makes a transaction visible partition by
partition, as the commit markers land), and commits are exposed in order, so
`select_notifications` and `max_notification_id` never show a gap.

Headers (CloudEvents 1.0, Kafka protocol binding, binary mode), so a kcat or
Kafka UI user can tell a record for what it is: `ce_specversion` 1.0,
`ce_type` io.stockledger.commit.v1 (a packed commit's share, events named
by `ce_subject` "notifications <first>-<last>" of the commit),
io.stockledger.snapshot.v1 (one packed snapshot, `ce_subject` its stream) or
io.stockledger.tracking.v1 (value: a notification id in ASCII); `ce_source`
/stockledger/<transactional id>; `ce_id` unique within that source;
`ce_time` when the writer sent it; `content-type`
application/vnd.stockledger.commit.v1 (the layout of `engine.store.packing`)
or text/plain.

One writer per partition. The writer's transactional producer has the
`transactional.id` `<prefix>stockledger-writer-<partition>`; its
`init_transactions` fences any earlier writer of the partition, whose next
`insert_events` raises `WriterFencedError` and which writes nothing more.
Once initialised, the writer reads its partitions to the end (readers use
`isolation_level=read_committed`) and rebuilds every stream's version, the
next notification id and the tracking positions, so optimistic concurrency
holds exactly as on the embedded store: a (stream, version) at or below the
stream's head raises `IntegrityError` and writes nothing of that commit.
Within one process, recorders on the same partition (however many factories
opened it) share one `KafkaDatastore` and so one writer, rather than fence
each other.

A commit that fails before Kafka took it (a clash, a limit, an error the
transaction could be aborted after) leaves the writer usable. One whose fate
Kafka did not tell (an error during `commit_transaction`) breaks the writer:
its view of the heads may be wrong, so it refuses further commits; open the
store again, which reads what really happened.

Exactly-once read-process-write: `insert_events(events, consumed=Consumed(
offsets, group_metadata))` commits the consumer's offsets (a
`{TopicPartition: OffsetAndMetadata}` of the next offsets to read, and
`consumer.group_metadata()`) in the same transaction as the events, through
`send_offsets_to_transaction`.

Durable: `acks=all`, idempotent and transactional; `insert_events` returns
only after `commit_transaction`. A single local broker (replication factor 1)
voids Kafka's durability guarantees; production runs replication factor 3
with `min.insync.replicas=2` (set by this store when it creates topics with a
replication factor above 1).

Reading keeps an index of commits (first id -> record offsets) in memory and
a byte-bounded cache of record values; a stream index for `select_events` is
built the first time a stream is read, as on the embedded store.
"""

from __future__ import annotations

import string
import threading
import time
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import compress, islice, repeat
from operator import eq
from typing import Any, ClassVar, Final, NamedTuple
from uuid import UUID

import msgspec
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DataError,
    IntegrityError,
    InterfaceError,
    ListenNotifySubscription,
    Notification,
    OperationalError,
    ProcessRecorder,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.utils import Environment, EnvType
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import (
    InvalidProducerEpochError,
    KafkaError,
    ProducerFencedError,
    TopicAlreadyExistsError,
)

from engine.store.columns import Columns, check_limits
from engine.store.factory import StoreFactory
from engine.store.heads import check_versions, stream_key
from engine.store.packing import Commit, PackedEvent, merge, originator, pack, packed_key

ENGINE_TOPICS: Final = ("orders", "stock", "credit")
OTHER_EVENTS_TOPIC: Final = "events"
TRACKING_TOPIC: Final = "tracking"
# What Kafka accepts as a topic name.
_TOPIC_CHARS: Final = frozenset(string.ascii_letters + string.digits + "._-")
TOPIC_NAME_LENGTH_MAX: Final = 249
RESERVED_TOPICS: Final = (*ENGINE_TOPICS, OTHER_EVENTS_TOPIC, TRACKING_TOPIC)

EVENTS_PER_COMMIT_MAX: Final = 100_000
# The raw event state one commit may hold, checked before anything is packed.
COMMIT_BYTES_MAX: Final = 64 * 1024 * 1024
# One record's value as sent; the topics' `max.message.bytes` leaves room for
# the record batch around it.
RECORD_BYTES_MAX: Final = 15 * 1024 * 1024
TOPIC_MESSAGE_BYTES_MAX: Final = 16 * 1024 * 1024
TIMEOUT_S_DEFAULT: Final = 30.0
TRANSACTION_TIMEOUT_MS: Final = 60_000
# kafka-python sleeps its `retry_backoff_ms` before retrying the AddPartitionsToTxn
# that the broker refuses (CONCURRENT_TRANSACTIONS) while the previous commit's
# markers are still being written: at the default 100 ms a commit took 80 ms,
# at 5 ms about 20 ms.
RETRY_BACKOFF_MS: Final = 5
CACHE_BYTES_MAX: Final = 64 * 1024 * 1024
FETCH_PARTITION_BYTES_MAX: Final = 8 * 1024 * 1024
# How long a fetch waits at the broker for data; short, because a reader asks
# only for what is already there.
FETCH_WAIT_MS: Final = 5
POLL_MS: Final = 100
# kafka-python's clients back off up to 30 s between reconnects by default: a
# store would then notice a restarted broker half a minute late.
RECONNECT_BACKOFF_MAX_MS: Final = 1_000
SUBSCRIPTION_POLL_S: Final = 0.05

CE_SPECVERSION: Final = b"1.0"
CE_TYPE_COMMIT: Final = b"io.stockledger.commit.v1"
CE_TYPE_SNAPSHOT: Final = b"io.stockledger.snapshot.v1"
CE_TYPE_TRACKING: Final = b"io.stockledger.tracking.v1"
CONTENT_TYPE_COMMIT: Final = b"application/vnd.stockledger.commit.v1"
CONTENT_TYPE_TEXT: Final = b"text/plain"
COMMIT_HEADER: Final = "stockledger-commit"

_CommitMeta = tuple[int, int, int, list[int] | None]
_meta_encoder: Final = msgspec.msgpack.Encoder()
_meta_decoder: Final = msgspec.msgpack.Decoder(_CommitMeta)


class WriterFencedError(OperationalError):
    """Another writer took over this writer's partition; this one writes nothing more."""


class WriterBrokenError(OperationalError):
    """A commit's outcome is unknown, so this writer refuses further commits."""


class Consumed(NamedTuple):
    """Input offsets to commit in the same transaction as a commit's events.

    `offsets`: `{TopicPartition: OffsetAndMetadata}`, the next offset to read
    of each input partition; `group_metadata`: the input consumer's
    `group_metadata()` (or, for old brokers, its group id).
    """

    offsets: Mapping[Any, Any]
    group_metadata: Any


def check_topic_name(name: str, prefix: str) -> None:
    """InterfaceError unless Kafka takes `name` (`prefix` and a purpose) as a topic name:
    its broker would refuse it only when the topics are made, at length."""
    refused = "".join(sorted(set(name) - _TOPIC_CHARS))
    if refused:
        msg = (
            f"topic {name!r} (prefix {prefix!r}) holds {refused!r}, which Kafka refuses in "
            "topic names: use ASCII letters, digits, '.', '_' and '-'"
        )
        raise InterfaceError(msg)
    if len(name) > TOPIC_NAME_LENGTH_MAX:
        msg = (
            f"topic {name[:40]!r}... (prefix of {len(prefix)} characters) is "
            f"{len(name)} characters long; Kafka takes at most {TOPIC_NAME_LENGTH_MAX}"
        )
        raise InterfaceError(msg)


@dataclass(frozen=True)
class KafkaSettings:
    """Where the store is and which partition this process writes.

    `partitions` and `replication_factor` apply when this store creates its
    topics; a replication factor of -1 takes the broker's default.
    """

    bootstrap_servers: str
    prefix: str = ""
    partition: int = 0
    partitions: int = 1
    replication_factor: int = -1
    timeout_s: float = TIMEOUT_S_DEFAULT

    def __post_init__(self) -> None:
        if not self.bootstrap_servers:
            msg = "no Kafka bootstrap servers given (host:port[,host:port])"
            raise InterfaceError(msg)
        if not 0 <= self.partition < self.partitions:
            msg = (
                f"partition {self.partition} is not one of the topics' {self.partitions} "
                "partitions (0 to partitions - 1)"
            )
            raise InterfaceError(msg)
        if self.replication_factor == 0 or self.replication_factor < -1:
            msg = (
                "replication factor must be -1 (the broker's) or >= 1, "
                f"got {self.replication_factor}"
            )
            raise InterfaceError(msg)
        if not self.timeout_s > 0:
            msg = f"timeout_s must be a positive number of seconds, got {self.timeout_s}"
            raise InterfaceError(msg)
        # The longest topic name the store makes itself.
        check_topic_name(self.topic("snapshots"), self.prefix)

    @property
    def transactional_id(self) -> str:
        return f"{self.prefix}stockledger-writer-{self.partition}"

    @property
    def timeout_ms(self) -> int:
        return int(self.timeout_s * 1000)

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"


class _Out(NamedTuple):
    """One record to send."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


# (record value, the commit header's bytes or b"")
_Stored = tuple[bytes, bytes]


def _client_config(settings: KafkaSettings) -> dict[str, Any]:
    """What every Kafka client of the store is opened with: its brokers, and the
    store's timeout for requests and for finding the brokers at all."""
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "request_timeout_ms": settings.timeout_ms,
        "bootstrap_timeout_ms": settings.timeout_ms,
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
    }


def plain_producer(settings: KafkaSettings) -> KafkaProducer:
    """A plain producer to the store's brokers, durable and idempotent (acks=all),
    configured as the store's own clients: for records outside the store's
    transactions, such as commands and dead letters."""
    return KafkaProducer(**_client_config(settings), acks="all", enable_idempotence=True)


def _headers(
    settings: KafkaSettings, ce_type: bytes, ce_id: str, subject: str, content_type: bytes
) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", CE_SPECVERSION),
        ("ce_type", ce_type),
        ("ce_source", f"/stockledger/{settings.transactional_id}".encode()),
        ("ce_id", ce_id.encode()),
        ("ce_time", datetime.now(UTC).isoformat(timespec="milliseconds").encode()),
        ("ce_subject", subject.encode()),
        ("content-type", content_type),
    ]


def _commit_meta(headers: Sequence[tuple[str, bytes]]) -> bytes:
    for key, value in headers:
        if key == COMMIT_HEADER:
            return value
    return b""


def _check_record(value: bytes, topic: str) -> None:
    if len(value) > RECORD_BYTES_MAX:
        msg = (
            f"the commit's record for topic {topic!r} packs to {len(value)} bytes; a record "
            f"holds at most {RECORD_BYTES_MAX} (RECORD_BYTES_MAX): split the commit"
        )
        raise DataError(msg)


class _Cache:
    """Record values by (topic index, offset), least recently used out first."""

    def __init__(self, bytes_max: int) -> None:
        self._items: OrderedDict[tuple[int, int], _Stored] = OrderedDict()
        self._bytes = 0
        self._bytes_max = bytes_max
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int]) -> _Stored | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple[int, int], item: _Stored) -> None:
        size = len(item[0]) + len(item[1])
        with self._lock:
            if key in self._items:
                return
            self._items[key] = item
            self._bytes += size
            while self._bytes > self._bytes_max and len(self._items) > 1:
                _, (value, meta) = self._items.popitem(last=False)
                self._bytes -= len(value) + len(meta)


class _Log:
    """Topics read together at the store's partition: a tail that follows
    them to their end, and reads of single records by offset."""

    def __init__(self, store: KafkaDatastore, names: Sequence[str]) -> None:
        self.store = store
        settings = store.settings
        self.topics = [settings.topic(name) for name in names]
        self.tps = [TopicPartition(topic, settings.partition) for topic in self.topics]
        self._topic_index = {topic: i for i, topic in enumerate(self.topics)}
        self.state_lock = threading.RLock()
        self._tail: Any = None
        self._tail_lock = threading.Lock()
        self._fetcher: Any = None
        self._fetch_tp: Any = None
        self._fetch_lock = threading.Lock()
        self._cache = _Cache(CACHE_BYTES_MAX)
        # The writer epoch this log last caught up after: a writer must have
        # read everything before it writes.
        self._writer_epoch = 0

    def _consumer(self, **config: Any) -> Any:
        self.store.check_open()
        try:
            return KafkaConsumer(
                **_client_config(self.store.settings),
                group_id=None,
                enable_auto_commit=False,
                isolation_level="read_committed",
                fetch_max_wait_ms=FETCH_WAIT_MS,
                max_partition_fetch_bytes=FETCH_PARTITION_BYTES_MAX,
                allow_auto_create_topics=False,
                **config,
            )
        except KafkaError as e:
            msg = f"cannot reach Kafka at {self.store.settings.bootstrap_servers}: {e}"
            raise OperationalError(msg) from e

    def catch_up(self) -> None:
        """Read every committed record up to the end of each topic."""
        with self._tail_lock:
            if self._tail is None:
                self._tail = self._consumer()
                self._tail.assign(self.tps)
                self._tail.seek_to_beginning(*self.tps)
            consumer = self._tail
            timeout_s = self.store.settings.timeout_s
            deadline = time.monotonic() + timeout_s
            try:
                end = consumer.end_offsets(self.tps, timeout_ms=self.store.settings.timeout_ms)
                while any(consumer.position(tp) < end[tp] for tp in self.tps):
                    if time.monotonic() > deadline:
                        msg = f"could not read {self.topics} to their end within {timeout_s} s"
                        raise OperationalError(msg)
                    for tp, records in consumer.poll(timeout_ms=POLL_MS).items():
                        index = self._topic_index[tp.topic]
                        for record in records:
                            self._take(index, record)
            except KafkaError as e:
                msg = f"reading {self.topics} failed: {e}"
                raise OperationalError(msg) from e

    def _take(self, index: int, record: Any) -> None:
        raise NotImplementedError

    def ready_to_write(self) -> None:
        """Caught up since the writer's producer fenced every earlier one."""
        epoch = self.store.writer_epoch
        if self._writer_epoch != epoch:
            self.catch_up()
            self._writer_epoch = epoch

    def fetch(self, index: int, offset: int) -> _Stored | None:
        """The record at `offset` of topic `index`; None if compaction removed it."""
        key = (index, offset)
        found = self._cache.get(key)
        if found is not None:
            return found
        with self._fetch_lock:
            found = self._cache.get(key)
            if found is not None:
                return found
            try:
                return self._fetch(index, offset)
            except KafkaError as e:
                msg = f"reading {self.topics[index]} at offset {offset} failed: {e}"
                raise OperationalError(msg) from e

    def _fetch(self, index: int, offset: int) -> _Stored | None:
        if self._fetcher is None:
            self._fetcher = self._consumer()
        consumer, tp = self._fetcher, self.tps[index]
        if self._fetch_tp != tp:
            consumer.assign([tp])
            self._fetch_tp = tp
        consumer.seek(tp, offset)
        timeout_s = self.store.settings.timeout_s
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found: _Stored | None = None
            # Everything the fetch brought is kept: replays read on from here.
            for record in consumer.poll(timeout_ms=POLL_MS).get(tp, ()):
                stored = (record.value, _commit_meta(record.headers))
                self._cache.put((index, record.offset), stored)
                if record.offset == offset:
                    found = stored
            if found is not None:
                return found
            if consumer.position(tp) > offset:
                return None
        msg = f"could not read {self.topics[index]} at offset {offset} within {timeout_s} s"
        raise OperationalError(msg)

    def put_cache(self, index: int, offset: int, stored: _Stored) -> None:
        self._cache.put((index, offset), stored)

    def close(self) -> None:
        with self._tail_lock, self._fetch_lock:
            for consumer in (self._tail, self._fetcher):
                if consumer is not None:
                    consumer.close()
            self._tail = self._fetcher = None


class _Pending:
    """A commit of which some records have been read."""

    __slots__ = ("count", "parts", "records")

    def __init__(self, count: int, records: int) -> None:
        self.count = count
        self.records = records
        # (location, stream keys, versions)
        self.parts: list[tuple[int, list[str], list[int]]] = []


class _Part(NamedTuple):
    """A commit's share in one topic, packed."""

    topic: int
    positions: list[int] | None
    key: bytes | None
    value: bytes


class _Group(NamedTuple):
    """A commit's events of one topic, not yet packed."""

    topic: int
    positions: list[int] | None
    events: Columns

    def pack(self) -> _Part:
        # Stops at the first event of another stream: most groups have many.
        ids = self.events.ids
        single = all(map(eq, repeat(ids[0]), ids))
        key = stream_key(ids[0]).encode() if single else None
        return _Part(self.topic, self.positions, key, pack(self.events))


# By topic index: the table translating a commit's topic indexes (a byte an
# event) to 1 for the events of that topic and 0 for the others.
_SELECTORS: Final = [
    bytes(int(index == kind) for index in range(256)) for kind in range(len(ENGINE_TOPICS) + 1)
]


class _EventLog(_Log):
    """The event topics: commits, notification ids, stream heads."""

    names: ClassVar[tuple[str, ...]] = (*ENGINE_TOPICS, OTHER_EVENTS_TOPIC)

    def __init__(self, store: KafkaDatastore) -> None:
        super().__init__(store, self.names)
        self._width = len(self.topics)
        self._routes: dict[str, int] = {}
        self.heads: dict[str, int] = {}
        self.next_id = 1
        # Commit i starts at notification _firsts[i]; its records are at
        # _locations[i] (offset * width + topic index).
        self._firsts: list[int] = []
        self._locations: list[tuple[int, ...]] = []
        self._pending: dict[int, _Pending] = {}
        self._streams: dict[str, list[int]] = {}
        self._indexed = 0
        self._index_lock = threading.Lock()
        self.listeners: set[threading.Event] = set()

    # ------------------------------------------------------------ writing

    def ready_to_write(self) -> None:
        """As for any log, and with no commit half read: the writer's next
        id must follow every commit the partition holds."""
        deadline = time.monotonic() + self.store.settings.timeout_s
        super().ready_to_write()
        while self._pending:
            if time.monotonic() > deadline:
                firsts = sorted(self._pending)
                msg = (
                    f"commits at notification ids {firsts} have records missing from "
                    f"{self.topics} after {self.store.settings.timeout_s} s: the store is "
                    "damaged or another writer is still writing this partition"
                )
                raise OperationalError(msg)
            time.sleep(POLL_MS / 1000)
            self.catch_up()

    def _route(self, topic: str) -> int:
        head, colon, _ = topic.partition(":")
        if colon and head in ENGINE_TOPICS:
            return ENGINE_TOPICS.index(head)
        return len(ENGINE_TOPICS)

    def _split(self, columns: Columns) -> list[_Group]:
        """The commit's events by topic (the hot path: no Python loop per event)."""
        routes = self._routes
        topics = columns.topics
        for topic in set(topics).difference(routes):
            routes[topic] = self._route(topic)
        # One byte an event: a topic's selector is a translation of it, so
        # picking a topic's events makes no Python call per event.
        of = bytes(map(routes.__getitem__, topics))
        kinds = sorted(set(of))
        if len(kinds) == 1:
            return [_Group(kinds[0], None, columns)]
        everything = range(len(of))
        groups = []
        for kind in kinds:
            chosen = of.translate(_SELECTORS[kind])
            groups.append(_Group(kind, list(compress(everything, chosen)), columns.select(chosen)))
        return groups

    def commit(
        self,
        stored_events: Sequence[StoredEvent],
        tracking: Tracking | None,
        consumed: Consumed | None,
    ) -> list[int]:
        """The commit protocol, in order:

        1. Check the commit against the limits and split it by topic, before any lock.
        2. Take the writer: its producer fences earlier writers of the partition.
        3. Catch up with the partition, once per producer: heads, next id, tracking.
        4. Check every (stream, version) is above its head, and tracking moves forward.
        5. In one transaction, pack and send each topic's record (the first is on
           its way while the next is packed), the tracking record and the consumed
           offsets; commit it.
        6. Only then move the heads, the next id and the tracking positions on.
        """
        columns = Columns.of(stored_events)
        check_limits(columns, EVENTS_PER_COMMIT_MAX, COMMIT_BYTES_MAX)
        if not columns and tracking is None and consumed is None:
            return []
        groups = self._split(columns) if columns else []
        store = self.store
        with store.writer_lock:
            store.start_writer()
            self.ready_to_write()
            if tracking is not None:
                store.tracking.ready_to_write()
                store.tracking.check(tracking)
            with self.state_lock:
                changed = check_versions(self.heads, columns)
                first = self.next_id
            count = len(columns)
            sent: list[tuple[_Part, _Out]] = []

            def outs() -> Iterator[_Out]:
                for group in groups:
                    part = group.pack()
                    _check_record(part.value, self.topics[part.topic])
                    sent.append((part, self._record(part, first, count, len(groups))))
                    yield sent[-1][1]
                if tracking is not None:
                    yield store.tracking.record(tracking)

            offsets = store.transact(outs(), consumed)
            # The tracking record's offset, if any, comes last.
            placed = zip(sent, offsets[: len(sent)], strict=True)
            self._apply_own(first, count, [(*pair, offset) for pair, offset in placed], changed)
            if tracking is not None:
                store.tracking.apply(tracking.application_name, tracking.notification_id)
        self.notify()
        return list(range(first, first + count))

    def _record(self, part: _Part, first: int, count: int, records: int) -> _Out:
        name = self.names[part.topic]
        headers = _headers(
            self.store.settings,
            CE_TYPE_COMMIT,
            f"{first}/{name}",
            f"notifications {first}-{first + count - 1}",
            CONTENT_TYPE_COMMIT,
        )
        meta = _meta_encoder.encode((first, count, records, part.positions))
        headers.append((COMMIT_HEADER, meta))
        return _Out(self.topics[part.topic], part.key, part.value, headers)

    def _apply_own(
        self,
        first: int,
        count: int,
        sent: list[tuple[_Part, _Out, int]],
        changed: dict[str, int],
    ) -> None:
        width = self._width
        with self.state_lock:
            # A reader of this store in this process may have tailed the commit
            # (it is committed) before this thread got the lock: then it is
            # applied already, and must not be listed twice. A commit tailed in
            # part is applied here, and its parts read so far dropped.
            self._pending.pop(first, None)
            if count and first == self.next_id:
                self._firsts.append(first)
                self._locations.append(
                    tuple(offset * width + part.topic for part, _, offset in sent)
                )
                self.heads.update(changed)
                self.next_id = first + count
        for part, out, offset in sent:
            self.put_cache(part.topic, offset, (part.value, _commit_meta(out.headers)))

    # ------------------------------------------------------------ tailing

    def _take(self, index: int, record: Any) -> None:
        meta = _commit_meta(record.headers)
        if not meta:
            msg = f"{self.topics[index]} offset {record.offset} is not a stockledger commit"
            raise DataError(msg)
        first, count, records, _positions = _meta_decoder.decode(meta)
        self.put_cache(index, record.offset, (record.value, meta))
        with self.state_lock:
            if first < self.next_id:
                return
            header = Commit(record.value).header
            ids = header.ids
            keys = ids if all(type(i) is str for i in ids) else [packed_key(i) for i in ids]
            pending = self._pending.get(first)
            if pending is None:
                pending = self._pending[first] = _Pending(count, records)
            pending.parts.append((record.offset * self._width + index, keys, header.versions))
            while (ready := self._pending.get(self.next_id)) and len(ready.parts) == ready.records:
                del self._pending[self.next_id]
                self._apply_read(self.next_id, ready)

    def _apply_read(self, first: int, pending: _Pending) -> None:
        heads = self.heads
        if len(pending.parts) == 1:
            _, keys, versions = pending.parts[0]
            heads.update(zip(keys, versions, strict=True))
        else:
            # A stream may have events in several records of one commit.
            for _, keys, versions in pending.parts:
                for key, version in zip(keys, versions, strict=True):
                    if version > heads.get(key, -1):
                        heads[key] = version
        self._firsts.append(first)
        self._locations.append(tuple(location for location, _, _ in pending.parts))
        self.next_id = first + pending.count

    def notify(self) -> None:
        for listener in list(self.listeners):
            listener.set()

    # ------------------------------------------------------------ reading

    def _commit_count(self, i: int) -> int:
        return (self._firsts[i + 1] if i + 1 < len(self._firsts) else self.next_id) - self._firsts[
            i
        ]

    def _parts(self, i: int, wanted: set[int] | None = None) -> list[tuple[list[int], Commit]]:
        """(positions, records) of commit i, only of the topics `wanted` if given."""
        count = self._commit_count(i)
        parts = []
        for location in self._locations[i]:
            offset, index = divmod(location, self._width)
            if wanted is not None and index not in wanted:
                continue
            stored = self.fetch(index, offset)
            if stored is None:
                msg = f"{self.topics[index]} offset {offset} is gone: was the topic compacted?"
                raise OperationalError(msg)
            value, meta = stored
            positions = _meta_decoder.decode(meta)[3]
            parts.append((list(range(count)) if positions is None else positions, Commit(value)))
        return parts

    def commits(self, after: int) -> Iterator[tuple[int, Commit]]:
        self.catch_up()
        i = max(bisect_right(self._firsts, after) - 1, 0)
        while True:
            with self.state_lock:
                if i >= len(self._firsts):
                    return
                first, count = self._firsts[i], self._commit_count(i)
            if first + count - 1 > after:
                yield first, merge(count, self._parts(i))
            i += 1

    def notifications(
        self, low: int, stop: int | None, topics: Sequence[str]
    ) -> Iterator[Notification]:
        self.catch_up()
        wanted = set(topics)
        indexes = {self._route(t) for t in wanted} if wanted else None
        with self.state_lock:
            i = max(bisect_right(self._firsts, low) - 1, 0)
            end = len(self._firsts)
        for j in range(i, end):
            first = self._firsts[j]
            if stop is not None and first > stop:
                return
            events: list[tuple[int, PackedEvent]] = []
            for positions, part in self._parts(j, indexes):
                events.extend(zip(positions, part.events(), strict=True))
            events.sort(key=lambda pair: pair[0])
            for position, (packed_id, version, topic, state) in events:
                nid = first + position
                if nid < low or (wanted and topic not in wanted):
                    continue
                if stop is not None and nid > stop:
                    return
                yield Notification(
                    id=nid,
                    originator_id=originator(packed_id),
                    originator_version=version,
                    topic=topic,
                    state=state,
                )

    def max_notification_id(self) -> int | None:
        self.catch_up()
        return self.next_id - 1 or None

    def _catch_up_streams(self) -> None:
        """Index every commit not yet in the stream index."""
        with self.state_lock:
            end = len(self._firsts)
            start = self._indexed
        for i in range(start, end):
            for location in self._locations[i]:
                offset, index = divmod(location, self._width)
                stored = self.fetch(index, offset)
                if stored is None:
                    continue
                for key in dict.fromkeys(
                    packed_key(packed_id) for packed_id in Commit(stored[0]).header.ids
                ):
                    self._streams.setdefault(key, []).append(location)
        with self.state_lock:
            self._indexed = max(self._indexed, end)

    def select_events(
        self,
        originator_id: UUID | str,
        gt: int | None,
        lte: int | None,
        desc: bool,
        limit: int | None,
    ) -> list[StoredEvent]:
        self.catch_up()
        with self._index_lock:
            self._catch_up_streams()
            locations = list(self._streams.get(stream_key(originator_id), ()))
        return _select(self, locations, originator_id, gt, lte, desc, limit)


def _select(
    log: _Log,
    locations: list[int],
    originator_id: UUID | str,
    gt: int | None,
    lte: int | None,
    desc: bool,
    limit: int | None,
) -> list[StoredEvent]:
    """A stream's events from the records at `locations` (offset * topics + topic index)."""
    target = originator_id.bytes if isinstance(originator_id, UUID) else originator_id
    width = len(log.topics)
    found: list[StoredEvent] = []
    for location in reversed(locations) if desc else locations:
        offset, index = divmod(location, width)
        stored = log.fetch(index, offset)
        if stored is None:
            continue
        events = [
            StoredEvent(originator_id, version, topic, state)
            for packed_id, version, topic, state in Commit(stored[0]).events()
            if packed_id == target
            and (gt is None or version > gt)
            and (lte is None or version <= lte)
        ]
        found.extend(reversed(events) if desc else events)
        if limit is not None and len(found) >= limit:
            break
    found.sort(key=lambda e: e.originator_version, reverse=desc)
    return found if limit is None else found[:limit]


class _TrackingLog(_Log):
    """Each upstream application's last notification id, keyed by application name."""

    def __init__(self, store: KafkaDatastore) -> None:
        super().__init__(store, (TRACKING_TOPIC,))
        self.positions: dict[str, int] = {}

    def _take(self, index: int, record: Any) -> None:
        self.apply(record.key.decode(), int(record.value))

    def apply(self, name: str, notification_id: int) -> None:
        with self.state_lock:
            if notification_id > self.positions.get(name, -1):
                self.positions[name] = notification_id

    def check(self, tracking: Tracking) -> None:
        with self.state_lock:
            position = self.positions.get(tracking.application_name)
        if position is not None and tracking.notification_id <= position:
            msg = (
                f"tracking for {tracking.application_name!r} is already at or past "
                f"notification {tracking.notification_id}"
            )
            raise IntegrityError(msg)

    def record(self, tracking: Tracking) -> _Out:
        name = tracking.application_name
        return _Out(
            self.topics[0],
            name.encode(),
            str(tracking.notification_id).encode(),
            _headers(
                self.store.settings,
                CE_TYPE_TRACKING,
                f"{name}/{tracking.notification_id}",
                name,
                CONTENT_TYPE_TEXT,
            ),
        )

    def insert(self, tracking: Tracking) -> None:
        store = self.store
        with store.writer_lock:
            store.start_writer()
            self.ready_to_write()
            self.check(tracking)
            store.transact([self.record(tracking)], None)
            self.apply(tracking.application_name, tracking.notification_id)

    def max_tracking_id(self, name: str) -> int | None:
        self.catch_up()
        with self.state_lock:
            return self.positions.get(name)


class _SnapshotLog(_Log):
    """One compacted topic of single-event records keyed by stream id (snapshots)."""

    def __init__(self, store: KafkaDatastore, purpose: str) -> None:
        super().__init__(store, (purpose,))
        self.heads: dict[str, int] = {}
        self._streams: dict[str, list[int]] = {}
        # The offset after this process's own last write, which the tail skips,
        # and after the last record tailed, which the writer does not list again.
        self._own_end = 0
        self._read_end = 0

    def _take(self, index: int, record: Any) -> None:
        self.put_cache(index, record.offset, (record.value, b""))
        header = Commit(record.value).header
        with self.state_lock:
            if record.offset < self._own_end:
                return
            for packed_id, version in zip(header.ids, header.versions, strict=True):
                key = packed_key(packed_id)
                if version > self.heads.get(key, -1):
                    self.heads[key] = version
                self._streams.setdefault(key, []).append(record.offset)
            self._read_end = record.offset + 1

    def commit(self, stored_events: Sequence[StoredEvent]) -> None:
        columns = Columns.of(stored_events)
        check_limits(columns, EVENTS_PER_COMMIT_MAX, COMMIT_BYTES_MAX)
        if not stored_events:
            return
        settings = self.store.settings
        outs = []
        for e in stored_events:
            key = stream_key(e.originator_id)
            value = pack([e])
            _check_record(value, self.topics[0])
            headers = _headers(
                settings,
                CE_TYPE_SNAPSHOT,
                f"{key}/{e.originator_version}",
                key,
                CONTENT_TYPE_COMMIT,
            )
            outs.append(_Out(self.topics[0], key.encode(), value, headers))
        store = self.store
        with store.writer_lock:
            store.start_writer()
            self.ready_to_write()
            with self.state_lock:
                changed = check_versions(self.heads, columns)
            offsets = store.transact(outs, None)
            with self.state_lock:
                self.heads.update(changed)
                for out, offset in zip(outs, offsets, strict=True):
                    assert out.key is not None
                    # Unless the tail read it back already (see `_EventLog._apply_own`).
                    if offset >= self._read_end:
                        self._streams.setdefault(out.key.decode(), []).append(offset)
                    self.put_cache(0, offset, (out.value, b""))
                self._own_end = offsets[-1] + 1

    def select_events(
        self,
        originator_id: UUID | str,
        gt: int | None,
        lte: int | None,
        desc: bool,
        limit: int | None,
    ) -> list[StoredEvent]:
        self.catch_up()
        with self.state_lock:
            locations = list(self._streams.get(stream_key(originator_id), ()))
        return _select(self, locations, originator_id, gt, lte, desc, limit)


class KafkaDatastore:
    """One partition of one store: its topics, its writer and its readers.

    Within a process, `shared` hands every factory of the same store and
    partition the same datastore, so a process never fences itself.
    """

    _shared: ClassVar[dict[tuple[str, str, int], KafkaDatastore]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._users = 0
        self.writer_lock = threading.RLock()
        self.writer_epoch = 0
        self._producer: Any = None
        self._unusable: OperationalError | None = None
        self._closed = False
        self._topics_ready: set[str] = set()
        self._logs_lock = threading.Lock()
        self.events = _EventLog(self)
        self.tracking = _TrackingLog(self)
        self._purposes: dict[str, _SnapshotLog] = {}

    @classmethod
    def shared(cls, settings: KafkaSettings) -> KafkaDatastore:
        key = (settings.bootstrap_servers, settings.prefix, settings.partition)
        with cls._shared_lock:
            datastore = cls._shared.get(key)
            if datastore is None or datastore._unusable is not None:
                # A fenced or broken writer stays with the factories that have
                # it; opening the store again starts a new one.
                datastore = cls._shared[key] = cls(settings)
            elif datastore.settings != settings:
                msg = (
                    f"partition {settings.partition} of store {settings.prefix!r} at "
                    f"{settings.bootstrap_servers} is already open in this process with "
                    f"other settings ({datastore.settings}); open it with the same ones"
                )
                raise InterfaceError(msg)
            datastore._users += 1
            return datastore

    def release(self) -> None:
        """Let go of a datastore from `shared`; the last user closes it."""
        s = self.settings
        key = (s.bootstrap_servers, s.prefix, s.partition)
        with self._shared_lock:
            self._users -= 1
            if self._users > 0:
                return
            if self._shared.get(key) is self:
                del self._shared[key]
        self.close()

    def check_open(self) -> None:
        if self._closed:
            s = self.settings
            msg = f"the Kafka store {s.prefix!r} (partition {s.partition}) is closed"
            raise InterfaceError(msg)

    # ------------------------------------------------------------ topics

    def log_for(self, purpose: str) -> _SnapshotLog:
        if purpose in RESERVED_TOPICS:
            msg = f"purpose {purpose!r} names one of the store's own topics {RESERVED_TOPICS}"
            raise InterfaceError(msg)
        check_topic_name(self.settings.topic(purpose), self.settings.prefix)
        with self._logs_lock:
            log = self._purposes.get(purpose)
            if log is None:
                log = self._purposes[purpose] = _SnapshotLog(self, purpose)
            return log

    def create_topics(self, purposes: Sequence[str] = ()) -> None:
        """Create this store's topics that do not exist yet, with their configs."""
        s = self.settings
        wanted: dict[str, dict[str, str]] = {}
        for name in (*ENGINE_TOPICS, OTHER_EVENTS_TOPIC):
            wanted[s.topic(name)] = _EVENT_TOPIC_CONFIGS
        for name in (TRACKING_TOPIC, *purposes):
            wanted[s.topic(name)] = _COMPACTED_TOPIC_CONFIGS
        missing = {name: cfg for name, cfg in wanted.items() if name not in self._topics_ready}
        if not missing:
            return
        self.check_open()
        extra = {}
        if s.replication_factor > 1:
            extra["min.insync.replicas"] = str(s.replication_factor - 1)
        try:
            admin = KafkaAdminClient(**_client_config(s))
        except KafkaError as e:
            msg = f"cannot reach Kafka at {s.bootstrap_servers}: {e}"
            raise OperationalError(msg) from e
        try:
            existing = set(admin.list_topics())
            new = {
                name: {
                    "num_partitions": s.partitions,
                    "replication_factor": s.replication_factor,
                    "configs": {**configs, **extra},
                }
                for name, configs in missing.items()
                if name not in existing
            }
            if new:
                try:
                    admin.create_topics(new, timeout_ms=s.timeout_ms, wait_for_metadata=True)
                except TopicAlreadyExistsError:
                    admin.wait_for_topics(list(new), timeout_ms=s.timeout_ms)
            self._check_partitions(admin, list(missing))
            _check_configs(admin, {name: wanted[name] for name in missing if name in existing})
        except KafkaError as e:
            msg = f"cannot create the store's topics {sorted(missing)}: {e}"
            raise OperationalError(msg) from e
        finally:
            admin.close()
        self._topics_ready.update(missing)

    def _check_partitions(self, admin: Any, names: list[str]) -> None:
        partition = self.settings.partition
        for topic in admin.describe_topics(names):
            count = len(topic.get("partitions") or ())
            if partition >= count:
                msg = (
                    f"topic {topic.get('name')!r} has {count} partitions; this store "
                    f"writes partition {partition}"
                )
                raise InterfaceError(msg)

    # ------------------------------------------------------------ the writer

    def start_writer(self) -> None:
        """The transactional producer, initialised: earlier writers are fenced from here on."""
        self.check_open()
        if self._unusable is not None:
            raise self._unusable
        if self._producer is not None:
            return
        s = self.settings
        try:
            producer = KafkaProducer(
                **_client_config(s),
                transactional_id=s.transactional_id,
                enable_idempotence=True,
                acks="all",
                linger_ms=0,
                retry_backoff_ms=RETRY_BACKOFF_MS,
                max_request_size=TOPIC_MESSAGE_BYTES_MAX,
                delivery_timeout_ms=s.timeout_ms + 1000,
                max_block_ms=s.timeout_ms,
                transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
            )
            producer.init_transactions()
            # A topic's first send waits for its metadata (measured 85 ms):
            # fetched here, it is not paid inside the first commits.
            for topic in (*self.events.topics, *self.tracking.topics):
                producer.partitions_for(topic)
        except KafkaError as e:
            msg = f"cannot start the writer {s.transactional_id!r} at {s.bootstrap_servers}: {e}"
            raise OperationalError(msg) from e
        self._producer = producer
        self.writer_epoch += 1

    def transact(self, outs: Iterable[_Out], consumed: Consumed | None) -> list[int]:
        """Send `outs` (and commit `consumed`) in one transaction; their offsets.

        `outs` may be a generator that packs as it goes; whatever it raises
        aborts the transaction, and nothing of it is written.
        """
        producer = self._producer
        assert producer is not None, "start_writer first"
        partition = self.settings.partition
        try:
            producer.begin_transaction()
            futures = [
                producer.send(
                    out.topic,
                    value=out.value,
                    key=out.key,
                    headers=out.headers,
                    partition=partition,
                )
                for out in outs
            ]
            if consumed is not None:
                producer.send_offsets_to_transaction(
                    dict(consumed.offsets), consumed.group_metadata
                )
            producer.flush(timeout=self.settings.timeout_s)
            offsets = [future.get(timeout=self.settings.timeout_s).offset for future in futures]
        except KafkaError as e:
            raise self._abort(e) from e
        except BaseException as e:
            self._abort(e)
            raise
        try:
            producer.commit_transaction()
        except KafkaError as e:
            raise self._fail(e, during_commit=True) from e
        return offsets

    def _abort(self, error: BaseException) -> OperationalError:
        """Abort the open transaction; what to raise."""
        if _is_fencing(error):
            return self._fail(error, during_commit=False)
        try:
            self._producer.abort_transaction()
        except KafkaError as e:
            return self._fail(e, during_commit=False)
        return OperationalError(f"the commit was refused and nothing of it written: {error}")

    def _fail(self, error: BaseException, *, during_commit: bool) -> OperationalError:
        """Make the writer unusable; what to raise."""
        s = self.settings
        unusable: OperationalError
        if _is_fencing(error):
            unusable = WriterFencedError(
                f"another writer took over partition {s.partition} "
                f"(transactional.id {s.transactional_id!r}); this one writes nothing more. "
                "Stop this process, or open the store again here to take the partition back"
            )
        else:
            fate = "may or may not have been written" if during_commit else "was not written"
            unusable = WriterBrokenError(
                f"writer {s.transactional_id!r} failed ({error}); the commit {fate}, so "
                "this writer refuses further commits: open the store again"
            )
        self._unusable = unusable
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout=0)
        return unusable

    def close(self) -> None:
        with self.writer_lock:
            if self._closed:
                return
            self._closed = True
            producer, self._producer = self._producer, None
            if producer is not None:
                producer.close(timeout=self.settings.timeout_s)
            for log in (self.events, self.tracking, *self._purposes.values()):
                log.close()


def _is_fencing(error: BaseException) -> bool:
    return isinstance(error, ProducerFencedError | InvalidProducerEpochError)


# What a topic made before the store opened it must hold: anything else would
# let Kafka delete or compact events away (or refuse a commit's records).
_KEPT_CONFIGS: Final = ("cleanup.policy", "retention.ms", "retention.bytes")


def _check_configs(admin: Any, wanted: Mapping[str, Mapping[str, str]]) -> None:
    """InterfaceError unless every existing topic in `wanted` keeps what the
    store writes as the store would have created it."""
    if not wanted:
        return
    found = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in wanted], config_filter="all"
    )["topic"]
    for name, configs in wanted.items():
        actual = {key: entry["value"] for key, entry in found.get(name, {}).items()}
        for key in _KEPT_CONFIGS:
            if key in configs and actual.get(key) != configs[key]:
                msg = (
                    f"topic {name!r} has {key}={actual.get(key)!r}; the store needs "
                    f"{key}={configs[key]!r} so that no event is ever deleted or compacted "
                    "away: alter the topic (kafka-configs.sh --alter) or use another prefix"
                )
                raise InterfaceError(msg)
        size = actual.get("max.message.bytes")
        if size is not None and int(size) < TOPIC_MESSAGE_BYTES_MAX:
            msg = (
                f"topic {name!r} has max.message.bytes={size}; a commit's record may take "
                f"up to {TOPIC_MESSAGE_BYTES_MAX}: raise it (kafka-configs.sh --alter) "
                "or use another prefix"
            )
            raise InterfaceError(msg)


_EVENT_TOPIC_CONFIGS: Final = {
    "cleanup.policy": "delete",
    "retention.ms": "-1",
    "retention.bytes": "-1",
    "max.message.bytes": str(TOPIC_MESSAGE_BYTES_MAX),
}
_COMPACTED_TOPIC_CONFIGS: Final = {
    "cleanup.policy": "compact",
    "max.message.bytes": str(TOPIC_MESSAGE_BYTES_MAX),
}


# ---------------------------------------------------------------- recorders


class KafkaRecorder:
    def __init__(self, datastore: KafkaDatastore) -> None:
        self.datastore = datastore

    def _purposes(self) -> tuple[str, ...]:
        return ()

    def create_table(self) -> None:
        self.datastore.create_topics(self._purposes())


class KafkaAggregateRecorder(KafkaRecorder, AggregateRecorder):
    """Events of purpose "events" go to the event topics; other purposes
    (snapshots) to a compacted topic of their own."""

    def __init__(self, datastore: KafkaDatastore, purpose: str = "events") -> None:
        super().__init__(datastore)
        self.purpose = purpose
        self._log = datastore.events
        self._own = None if purpose == "events" else datastore.log_for(purpose)

    def _purposes(self) -> tuple[str, ...]:
        return () if self._own is None else (self.purpose,)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if self._own is not None:
            self._own.commit(stored_events)
            return None
        positions = self._log.commit(stored_events, kwargs.get("tracking"), kwargs.get("consumed"))
        return None if type(self) is KafkaAggregateRecorder else positions

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        log = self._own if self._own is not None else self._log
        return log.select_events(originator_id, gt, lte, desc, limit)


class KafkaApplicationRecorder(KafkaAggregateRecorder, ApplicationRecorder):
    def __init__(self, datastore: KafkaDatastore) -> None:
        super().__init__(datastore, "events")

    def start_writer(self) -> None:
        """Take the partition now (see `engine.store.WriterStart`): any earlier
        writer is fenced from here on."""
        with self.datastore.writer_lock:
            self.datastore.start_writer()

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        tracking: Tracking | None = None,
        consumed: Consumed | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """One commit, one Kafka transaction; the events' notification ids.

        `consumed`: input offsets committed in the same transaction (see the
        module docstring), for exactly-once read-process-write.
        """
        return self._log.commit(stored_events, tracking, consumed)

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        low = 1 if start is None else (start if inclusive_of_start else start + 1)
        return list(islice(self._log.notifications(low, stop, topics), limit))

    def read_commits(self, after: int = 0) -> Iterator[tuple[int, Commit]]:
        """Every commit holding events after notification `after`, with its first id.

        For replays, as on the embedded store: no Notification object is
        built per event; a commit's records are merged into one `Commit`.
        """
        return self._log.commits(after)

    def max_notification_id(self) -> int | None:
        return self._log.max_notification_id()

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return KafkaSubscription(self, gt=gt, topics=topics)


class KafkaSubscription(ListenNotifySubscription[KafkaApplicationRecorder]):
    """Wakes on commits in this process at once, on other processes' within a poll."""

    def __init__(
        self, recorder: KafkaApplicationRecorder, gt: int | None, topics: Sequence[str]
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        recorder._log.listeners.add(self._has_been_notified)
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._has_been_stopped:
            time.sleep(SUBSCRIPTION_POLL_S)
            self._has_been_notified.set()

    def stop(self) -> None:
        self._recorder._log.listeners.discard(self._has_been_notified)
        super().stop()


class KafkaTrackingRecorder(KafkaRecorder, TrackingRecorder):
    def insert_tracking(self, tracking: Tracking) -> None:
        self.datastore.tracking.insert(tracking)

    def max_tracking_id(self, application_name: str) -> int | None:
        return self.datastore.tracking.max_tracking_id(application_name)


class KafkaProcessRecorder(KafkaTrackingRecorder, KafkaApplicationRecorder, ProcessRecorder):
    def __init__(self, datastore: KafkaDatastore) -> None:
        KafkaApplicationRecorder.__init__(self, datastore)


class KafkaFactory(StoreFactory[KafkaTrackingRecorder]):
    """Built from the environment, as eventsourcing builds its own factories.

    Select it with `PERSISTENCE_MODULE=engine.store.kafka`, or from a
    `kafka://host:port?prefix=...&partition=...` URL with
    `engine.store.open_factory`.
    """

    KAFKA_BOOTSTRAP_SERVERS: ClassVar[str] = "KAFKA_BOOTSTRAP_SERVERS"
    KAFKA_TOPIC_PREFIX: ClassVar[str] = "KAFKA_TOPIC_PREFIX"
    KAFKA_PARTITION: ClassVar[str] = "KAFKA_PARTITION"
    KAFKA_PARTITIONS: ClassVar[str] = "KAFKA_PARTITIONS"
    KAFKA_REPLICATION_FACTOR: ClassVar[str] = "KAFKA_REPLICATION_FACTOR"
    KAFKA_TIMEOUT_S: ClassVar[str] = "KAFKA_TIMEOUT_S"

    datastore: KafkaDatastore
    application_recorder_class = KafkaApplicationRecorder
    tracking_recorder_class = KafkaTrackingRecorder
    process_recorder_class = KafkaProcessRecorder

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        self.datastore = KafkaDatastore.shared(self.settings())
        self._released = False

    def settings(self) -> KafkaSettings:
        servers = self.env.get(self.KAFKA_BOOTSTRAP_SERVERS)
        if not servers:
            keys = ", ".join(self.env.create_keys(self.KAFKA_BOOTSTRAP_SERVERS))
            msg = f"no Kafka bootstrap servers named: set one of {keys} (host:port[,host:port])"
            raise InterfaceError(msg)
        settings = KafkaSettings(servers, prefix=self.env.get(self.KAFKA_TOPIC_PREFIX) or "")
        numbers: dict[str, type[int] | type[float]] = {
            self.KAFKA_PARTITION: int,
            self.KAFKA_PARTITIONS: int,
            self.KAFKA_REPLICATION_FACTOR: int,
            self.KAFKA_TIMEOUT_S: float,
        }
        changes: dict[str, Any] = {}
        for name, kind in numbers.items():
            text = self.env.get(name)
            if not text:
                continue
            try:
                changes[name.removeprefix("KAFKA_").lower()] = kind(text)
            except ValueError:
                msg = f"{name} must be a{'n integer' if kind is int else ' number'}, got {text!r}"
                raise InterfaceError(msg) from None
        if "partition" in changes and "partitions" not in changes:
            changes["partitions"] = changes["partition"] + 1
        return replace(settings, **changes) if changes else settings

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        recorder = KafkaAggregateRecorder(self.datastore, purpose)
        self._ready(recorder)
        return recorder

    def close(self) -> None:
        if not self._released:
            self._released = True
            self.datastore.release()
