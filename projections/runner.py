"""Applies a store's events to projections, each with its checkpoint in the same transaction.

A checkpoint is the last notification id a projection has applied, kept per
partition of the store (the Kafka store numbers notifications per writer
partition; the embedded store has one, partition 0), through eventsourcing's
`TrackingRecorder` interface. One batch, for every projection of a run:

1. read the next events after the lowest checkpoint from the store, decoded once;
2. begin a transaction (on SQLite it takes the write lock at once);
3. re-read the projection's checkpoint inside it, holding it until the
   commit (`Checkpoints.claim`), and drop the events at or below it: another
   runner may have gone on since step 1, and this is what makes re-applying
   events idempotent;
4. load the rows the projection names, fold the events, write the rows back;
5. move the checkpoint to the batch's last notification id, only forward: a
   runner that lost a race fails here and its whole transaction rolls back;
6. commit. Rows and checkpoint are durable together or not at all.

Rebuild from zero builds into fresh tables (`<table>__rebuild`, with their own
checkpoint) batch by batch while the live tables go on serving, then swaps
them in one transaction. Cancelled at any point, the live read model is
untouched; a retry drops the leftovers and starts again. A rebuild keeps the
rows it built in memory between batches (up to `HELD_ROWS_MAX` a projection),
so step 4 loads nothing: its tables are its own and hold nothing else.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Final

import msgspec
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    Tracking,
    TrackingRecorder,
)

from engine.codec import all_current, decode
from engine.collector import collector_paused
from engine.events import SCHEMA_VERSIONS, STORED_TOPIC_PREFIXES, Envelope
from engine.store import CommitReader
from engine.store.packing import Commit
from projections.db import Database
from projections.projection import (
    HeldRows,
    Key,
    Kinds,
    Positioned,
    ProjectedEvent,
    Projection,
    Rows,
    Table,
    group_keys,
    payload_types,
    read_by,
)

__all__ = [
    "BATCH_EVENTS_MAX",
    "HELD_ROWS_MAX",
    "REBUILD_BATCH_EVENTS_MAX",
    "Checkpoints",
    "ProjectionStatus",
    "catch_up",
    "ensure_schema",
    "partition_of",
    "rebuild",
    "status",
]

BATCH_EVENTS_MAX: Final = 20_000
# A rebuild commits less often: nobody waits on its tables, and a row that
# many events change is written once a batch. A batch's decoded events take
# about 0.65 KB each while it folds: some 130 MB at this bound.
REBUILD_BATCH_EVENTS_MAX: Final = 200_000
# Rows of one projection a rebuild keeps in memory between batches; past it,
# the rebuild goes on loading each batch's rows from its tables, as a catch-up does.
HELD_ROWS_MAX: Final = 1_000_000
LOAD_KEYS_MAX: Final = 500
PAGE_NOTIFICATIONS: Final = 10_000
REBUILD_SUFFIX: Final = "__rebuild"
CHECKPOINTS_TABLE: Final = "projection_checkpoints"

_events_decoder: Final = msgspec.msgpack.Decoder(list[ProjectedEvent])
_event_decoder: Final = msgspec.msgpack.Decoder(ProjectedEvent)
_raw_decoder: Final = msgspec.msgpack.Decoder(list[msgspec.Raw])


def partition_of(recorder: ApplicationRecorder) -> int:
    """The partition whose notification ids `recorder` reads: 0 but on the Kafka store."""
    datastore: Any = getattr(recorder, "datastore", None)
    settings = getattr(datastore, "settings", None)
    partition = getattr(settings, "partition", 0)
    return partition if isinstance(partition, int) else 0


# ---------------------------------------------------------------- checkpoints


class Checkpoints(TrackingRecorder):
    """Each projection's last applied notification id on one partition of the store.

    Every call runs in the caller's transaction on `db`, so a checkpoint moves
    with the rows it accounts for. `insert_tracking` only moves forward and
    raises `IntegrityError` otherwise, as eventsourcing's recorders do.
    """

    def __init__(self, db: Database, partition: int) -> None:
        self.db = db
        self.partition = partition

    def create_table(self) -> None:
        self.db.execute(
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS_TABLE} (projection TEXT NOT NULL, "
            "partition BIGINT NOT NULL, notification_id BIGINT NOT NULL, "
            "PRIMARY KEY (projection, partition))"
        )

    def max_tracking_id(self, application_name: str) -> int | None:
        rows = self.db.execute(
            f"SELECT notification_id FROM {CHECKPOINTS_TABLE} "
            "WHERE projection = ? AND partition = ?",
            (application_name, self.partition),
        )
        return int(rows[0][0]) if rows else None

    def insert_tracking(self, tracking: Tracking) -> None:
        moved = self.db.execute(
            f"INSERT INTO {CHECKPOINTS_TABLE} (projection, partition, notification_id) "
            "VALUES (?, ?, ?) ON CONFLICT (projection, partition) DO UPDATE "
            f"SET notification_id = excluded.notification_id "
            f"WHERE {CHECKPOINTS_TABLE}.notification_id < excluded.notification_id "
            "RETURNING notification_id",
            (tracking.application_name, self.partition, tracking.notification_id),
        )
        if not moved:
            msg = (
                f"checkpoint of {tracking.application_name!r} on partition {self.partition} "
                f"is already at or past notification {tracking.notification_id}"
            )
            raise IntegrityError(msg)

    def claim(self, name: str) -> int:
        """The checkpoint, held until the transaction ends (0 if none yet).

        Two runners of one projection (`consume projections` beside a consumer
        that catches up the read models it reads) must not both fold the same
        events: the second would load rows the first has not committed yet. On
        SQLite the transaction's write lock (BEGIN IMMEDIATE) already orders
        them. On PostgreSQL the checkpoint's row is locked (made first if
        missing, so there is always a row to lock): the second runner waits
        here and then reads where the first ended.
        """
        if self.db.dialect != "postgresql":
            return self.max_tracking_id(name) or 0
        self.db.execute(
            f"INSERT INTO {CHECKPOINTS_TABLE} (projection, partition, notification_id) "
            "VALUES (?, ?, 0) ON CONFLICT (projection, partition) DO NOTHING",
            (name, self.partition),
        )
        rows = self.db.execute(
            f"SELECT notification_id FROM {CHECKPOINTS_TABLE} "
            "WHERE projection = ? AND partition = ? FOR UPDATE",
            (name, self.partition),
        )
        return int(rows[0][0])

    def set(self, name: str, notification_id: int) -> None:
        """Put a checkpoint where a rebuild ended, forward or not."""
        self.delete(name)
        if notification_id:
            self.insert_tracking(Tracking(name, notification_id))

    def delete(self, name: str) -> None:
        self.db.execute(
            f"DELETE FROM {CHECKPOINTS_TABLE} WHERE projection = ? AND partition = ?",
            (name, self.partition),
        )


# ---------------------------------------------------------------- schema


def ensure_schema(db: Database, projections: Sequence[Projection], partition: int = 0) -> None:
    """The live tables, their indexes and the checkpoint table, created if missing."""
    with db.transaction():
        Checkpoints(db, partition).create_table()
        for projection in projections:
            for table in projection.tables:
                db.execute(table.create(table.name))
                for statement in table.create_indexes(table.name):
                    db.execute(statement)


# ---------------------------------------------------------------- reading the store


def _decode_commit(first: int, commit: Commit) -> tuple[int, list[Positioned]]:
    """(the commit's notifications, the engine's events among them)."""
    topics = commit.topics
    if all(name.startswith(STORED_TOPIC_PREFIXES) for name in topics.names):
        try:
            events = _events_decoder.decode(commit.states_array)
        except msgspec.DecodeError:
            events = None
        if events is None or not all_current(events):
            raws = _raw_decoder.decode(commit.states_array)
            events = _decode_each(bytes(raw) for raw in raws)
        return len(topics.of), list(zip(range(first, first + len(events)), events, strict=True))
    # Another application's events share the store: read only the engine's.
    positioned = []
    for i, (_, _, topic, state) in enumerate(commit.events()):
        if topic.startswith(STORED_TOPIC_PREFIXES):
            positioned.append((first + i, _decode_each([state])[0]))
    return len(topics.of), positioned


def _decode_each(items: Iterable[bytes]) -> list[ProjectedEvent]:
    """Stored envelopes one by one; one of an older shape (or not in the store's
    usual encoding) is decoded whole, upcast, and its causation id kept."""
    events = []
    for item in items:
        try:
            event = _event_decoder.decode(item)
        except msgspec.DecodeError:
            event = _projected(decode(item))
        else:
            if SCHEMA_VERSIONS.get(type(event.data)) != event.schema_version:
                event = _projected(decode(item))
        events.append(event)
    return events


def _projected(envelope: Envelope) -> ProjectedEvent:
    return ProjectedEvent(
        stream_id=envelope.stream_id,
        version=envelope.version,
        timestamp=envelope.timestamp,
        schema_version=envelope.schema_version,
        data=envelope.data,
        causation_id=envelope.causation_id.bytes,
    )


def read_batches(
    recorder: ApplicationRecorder, after: int, events_max: int = BATCH_EVENTS_MAX
) -> Iterator[tuple[int, list[Positioned], Kinds]]:
    """(last notification id, events, their payloads' types) after notification `after`,
    about `events_max` a batch.

    A batch ends on a commit boundary where the store says where commits are.
    The types are taken as each commit is decoded, while its events are still
    in the CPU's caches: over a whole batch read again, that pass costs three times as much.
    """
    if not isinstance(recorder, CommitReader):
        yield from _read_notifications(recorder, after, events_max)
        return
    batch: list[Positioned] = []
    types: list[type] = []
    last = yielded = after
    for first, commit in recorder.read_commits(after):
        count, events = _decode_commit(first, commit)
        if first <= after:
            events = [e for e in events if e[0] > after]
        last = max(last, first + count - 1)
        batch += events
        types += payload_types(events)
        if len(batch) >= events_max:
            yield last, batch, Kinds.of(types)
            batch, types, yielded = [], [], last
    # The last commits may hold only other applications' events: the checkpoints still pass them.
    if batch or last > yielded:
        yield last, batch, Kinds.of(types)


def _read_notifications(
    recorder: ApplicationRecorder, after: int, events_max: int
) -> Iterator[tuple[int, list[Positioned], Kinds]]:
    while page := recorder.select_notifications(
        after, min(events_max, PAGE_NOTIFICATIONS), inclusive_of_start=False
    ):
        mine = [n for n in page if n.topic.startswith(STORED_TOPIC_PREFIXES)]
        events = _decode_each(n.state for n in mine)
        after = page[-1].id
        positioned = [(n.id, e) for n, e in zip(mine, events, strict=True)]
        yield after, positioned, Kinds.of(payload_types(positioned))


# ---------------------------------------------------------------- one batch


def _select(table: Table, physical: str, count: int) -> str:
    columns = ", ".join(table.column_names)
    if len(table.key) == 1:
        where = f"{table.key[0]} IN ({', '.join('?' * count)})"
    else:
        one = f"({', '.join('?' * len(table.key))})"
        where = f"({', '.join(table.key)}) IN (VALUES {', '.join([one] * count)})"
    return f"SELECT {columns} FROM {physical} WHERE {where}"


def _load(
    db: Database, projection: Projection, names: Mapping[str, str], events: Sequence[Positioned]
) -> Rows:
    wanted = group_keys(projection.keys(events))
    loaded: dict[str, dict[Key, dict[str, Any] | None]] = {}
    for table in projection.tables:
        keys = list(wanted.get(table.name, ()))
        found: dict[Key, dict[str, Any] | None] = dict.fromkeys(keys)
        width = len(table.key)
        columns = table.column_names
        for start in range(0, len(keys), LOAD_KEYS_MAX):
            chunk = keys[start : start + LOAD_KEYS_MAX]
            params = [value for key in chunk for value in key]
            for values in db.execute(_select(table, names[table.name], len(chunk)), params):
                found[tuple(values[:width])] = dict(zip(columns, values, strict=True))
        loaded[table.name] = found
    return Rows(loaded)


def _upsert(table: Table, physical: str) -> str:
    columns = table.column_names
    rest = [c for c in columns if c not in table.key]
    conflict = (
        f"DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in rest)}" if rest else "DO NOTHING"
    )
    return (
        f"INSERT INTO {physical} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(table.key)}) {conflict}"
    )


def _values(columns: Sequence[str]) -> Callable[[dict[str, Any]], Sequence[Any]]:
    """A row's values in `columns`' order."""
    if len(columns) == 1:
        return lambda row: (row[columns[0]],)
    return itemgetter(*columns)


def _changes(
    rows: Rows, table: str, values: Callable[[dict[str, Any]], Sequence[Any]]
) -> tuple[list[Sequence[Any]], list[Sequence[Any]], list[Key]]:
    """(upserts, inserts, deletes) of `table`'s rows written this batch.

    Rows held whole in memory (a rebuild's) are in fresh tables nobody else
    writes, so a key never stored is surely absent: it is inserted, not upserted.
    """
    if isinstance(rows, HeldRows):
        return rows.settle(table, values)
    loaded, existed = rows.loaded.get(table, {}), rows.existed[table]
    upserts: list[Sequence[Any]] = []
    deletes: list[Key] = []
    for key in rows.written.get(table, ()):
        row = loaded[key]
        if row is not None:
            upserts.append(values(row))
        elif key in existed:
            deletes.append(key)
    return upserts, [], deletes


def _write(db: Database, projection: Projection, names: Mapping[str, str], rows: Rows) -> None:
    for table in projection.tables:
        physical = names[table.name]
        columns = table.column_names
        values = _values(columns)
        upserts, inserts, deletes = _changes(rows, table.name, values)
        if deletes:
            where = " AND ".join(f"{c} = ?" for c in table.key)
            db.executemany(f"DELETE FROM {physical} WHERE {where}", deletes)
        db.executemany(_upsert(table, physical), upserts)
        db.insert(physical, columns, inserts)
        appended = rows.appended.get(table.name)
        if appended:
            db.insert(physical, columns, appended)


@dataclass
class _Held:
    """A rebuild's rows kept in memory from batch to batch: all its tables hold, but appended rows.

    They stand for the tables only as written up to notification `applied`.
    """

    rows_max: int
    rows: dict[str, dict[Key, dict[str, Any] | None]]
    stored: dict[str, set[Key]] = field(default_factory=dict)
    applied: int = 0

    def count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


@dataclass
class _Target:
    """Where a projection writes: its checkpoint's name and its tables' physical names.

    `held` is set while a rebuild holds all the rows of its fresh tables in memory.
    """

    projection: Projection
    checkpoint: str
    names: Mapping[str, str]
    held: _Held | None = None


def _live(projection: Projection) -> _Target:
    return _Target(projection, projection.name, {t.name: t.name for t in projection.tables})


def _rebuilding(projection: Projection, held_rows_max: int) -> _Target:
    tables = [t.name for t in projection.tables]
    held = _Held(held_rows_max, {t: {} for t in tables}, {t: set() for t in tables})
    return _Target(
        projection,
        projection.name + REBUILD_SUFFIX,
        {t: t + REBUILD_SUFFIX for t in tables},
        held,
    )


def _apply_batch(
    db: Database,
    checkpoints: Checkpoints,
    target: _Target,
    last: int,
    batch: list[Positioned],
    kinds: Kinds | None = None,
) -> int:
    """Steps 3 to 5 of the module docstring; the events applied; `kinds`: the payloads' types."""
    if kinds is None:
        kinds = Kinds.of(payload_types(batch))
    done = checkpoints.claim(target.checkpoint)
    if done >= last:
        return 0
    start = bisect_right(batch, done, key=lambda e: e[0])
    events = batch[start:]
    held = target.held
    if held is not None and held.applied != done:
        # Someone else wrote these tables since (another rebuild): memory no longer stands for them.
        held = target.held = None
    if events:
        read = read_by(target.projection, events, kinds.after(start) if start else kinds)
        rows = (
            HeldRows(held.rows, held.stored)
            if held is not None
            else _load(db, target.projection, target.names, read)
        )
        target.projection.fold(rows, read)
        _write(db, target.projection, target.names, rows)
    checkpoints.insert_tracking(Tracking(target.checkpoint, last))
    if held is not None:
        held.applied = last
        if held.count() > held.rows_max:
            target.held = None
    return len(events)


def _run(
    db: Database,
    recorder: ApplicationRecorder,
    targets: Sequence[_Target],
    events_max: int,
    progress: Callable[[int], None] | None,
) -> int:
    checkpoints = Checkpoints(db, partition_of(recorder))
    with db.transaction():
        after = min(checkpoints.max_tracking_id(t.checkpoint) or 0 for t in targets)
    applied = 0
    for last, batch, kinds in read_batches(recorder, after, events_max):
        with db.transaction():
            for target in targets:
                applied += _apply_batch(db, checkpoints, target, last, batch, kinds)
        if progress is not None:
            progress(last)
    return applied


def catch_up(
    db: Database,
    recorder: ApplicationRecorder,
    projections: Sequence[Projection],
    *,
    events_max: int = BATCH_EVENTS_MAX,
    progress: Callable[[int], None] | None = None,
    schema: bool = True,
) -> int:
    """Apply every event the store holds past each projection's checkpoint; the events applied.

    Each projection counts the events it was given, so an event several
    projections applied counts once for each. With `schema` false the tables
    are taken to exist (`ensure_schema` ran): a loop that catches up again and
    again makes them once, not in a write transaction every round.
    """
    if schema:
        ensure_schema(db, projections, partition_of(recorder))
    return _run(db, recorder, [_live(p) for p in projections], events_max, progress)


def rebuild(
    db: Database,
    recorder: ApplicationRecorder,
    projections: Sequence[Projection],
    *,
    events_max: int = REBUILD_BATCH_EVENTS_MAX,
    held_rows_max: int = HELD_ROWS_MAX,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Build `projections` from notification zero into fresh tables, then swap them in.

    Each projection's rows stay in memory from batch to batch while they number
    at most `held_rows_max`, so a batch loads nothing. Returns the events
    applied by the build, counted as `catch_up` counts them.
    """
    partition = partition_of(recorder)
    ensure_schema(db, projections, partition)
    checkpoints = Checkpoints(db, partition)
    targets = [_rebuilding(p, held_rows_max) for p in projections]
    with db.transaction():
        for target in targets:
            checkpoints.delete(target.checkpoint)
            for table in target.projection.tables:
                db.execute(f"DROP TABLE IF EXISTS {target.names[table.name]}")
                # No secondary indexes while loading: they are built once, at the swap.
                db.execute(table.create(target.names[table.name]))
    # The build may commit without waiting for the disk: its tables are not
    # served, and a build lost to a crash is redone by the retry, which drops
    # the leftovers. The swap below is a durable commit as any other.
    with collector_paused(), db.unsynced():
        applied = _run(db, recorder, targets, events_max, progress)
    with db.transaction():
        for target in targets:
            _swap(db, checkpoints, target)
    catch_up(db, recorder, projections, events_max=events_max)
    return applied


def _swap(db: Database, checkpoints: Checkpoints, target: _Target) -> None:
    projection = target.projection
    for table in projection.tables:
        db.execute(f"DROP TABLE IF EXISTS {table.name}")
        db.execute(f"ALTER TABLE {target.names[table.name]} RENAME TO {table.name}")
        for statement in table.create_indexes(table.name):
            db.execute(statement)
    built = checkpoints.max_tracking_id(target.checkpoint) or 0
    checkpoints.set(projection.name, built)
    checkpoints.delete(target.checkpoint)


# ---------------------------------------------------------------- status


class ProjectionStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Where a projection is: `lag` is the store's newest notification id minus the checkpoint."""

    projection: str
    partition: int
    checkpoint: int
    head: int
    lag: int


def status(
    db: Database, recorder: ApplicationRecorder, projections: Sequence[Projection]
) -> list[ProjectionStatus]:
    partition = partition_of(recorder)
    ensure_schema(db, projections, partition)
    head = recorder.max_notification_id() or 0
    checkpoints = Checkpoints(db, partition)
    with db.transaction():
        done = {p.name: checkpoints.max_tracking_id(p.name) or 0 for p in projections}
    return [
        ProjectionStatus(
            projection=p.name,
            partition=partition,
            checkpoint=done[p.name],
            head=head,
            lag=max(0, head - done[p.name]),
        )
        for p in projections
    ]


def follow(
    db: Database,
    recorder: ApplicationRecorder,
    projections: Sequence[Projection],
    *,
    poll_s: float,
    stop: threading.Event,
    progress: Callable[[int], None] | None = None,
) -> None:
    """`catch_up` again and again until `stop` is set, `poll_s` apart when nothing was new."""
    ensure_schema(db, projections, partition_of(recorder))
    while not stop.is_set():
        if not catch_up(db, recorder, projections, progress=progress, schema=False):
            stop.wait(poll_s)
