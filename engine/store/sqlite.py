"""The embedded store: eventsourcing's recorder interfaces on one SQLite file.

Layout. eventsourcing's own SQLite recorder writes one row per event and
stores about a quarter of a million events/s; the page writes of that row's
primary-key index, not the bytes of the events, are most of the cost of each
commit. Here one `insert_events` call is one row of `{name}_commits`: the
commit's events packed as MessagePack, keyed by the notification id of its
first event. Every event keeps its own notification id (first id + its index
in the commit), so the application sequence is exactly eventsourcing's.

Optimistic concurrency. A (stream, version) clash must raise `IntegrityError`
and write nothing. Without a row per event the database cannot check that, so
the writer does: it keeps every stream's head version in memory and refuses a
version at or below the head. That is stricter than a unique index (a gap can
never be filled in later), which is what optimistic concurrency means anyway.
The head map stays exact across writers in other threads and processes
because every commit first takes SQLite's write lock (BEGIN IMMEDIATE) and
then folds in whatever commits were appended since it last looked.

Reading one stream needs a stream index, `{name}_index`. It is derived from
the commits, so it is brought up to date when a stream is read rather than on
the hot write path; its watermark sits in `{name}_meta`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any, ClassVar, Final
from uuid import UUID

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

from engine.store.columns import Columns, check_limits
from engine.store.factory import StoreFactory
from engine.store.heads import check_versions, stream_key
from engine.store.packing import Commit, PackedEvent, originator, pack

EVENTS_PER_COMMIT_MAX: Final = 100_000
COMMIT_BYTES_MAX: Final = 256 * 1024 * 1024
LOCK_TIMEOUT_S_DEFAULT: Final = 30.0
SUBSCRIPTION_POLL_S: Final = 0.05
PAGE_COMMITS: Final = 256
CLOSE_WAIT_S: Final = 5.0


class SQLiteDatastore:
    """One SQLite file: a write connection behind a lock, a read connection per thread."""

    def __init__(self, path: str, *, lock_timeout_s: float = LOCK_TIMEOUT_S_DEFAULT) -> None:
        if not path or path == ":memory:" or "mode=memory" in path:
            msg = f"the embedded store needs a file path, got {path!r}"
            raise InterfaceError(msg)
        self.path = path
        self.lock_timeout_s = lock_timeout_s
        self.write_lock = threading.RLock()
        self._local = threading.local()
        # Each connection with the lock held while a thread uses it: closing
        # a sqlite3 connection that another thread is in the middle of using
        # can crash the interpreter, so close() takes that lock first.
        self._connections: list[tuple[sqlite3.Connection, threading.Lock]] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self._writer = self._connect()[0]
        # WAL lets readers go on while the writer commits; FULL makes every
        # commit durable (the WAL is synced) before insert_events returns.
        self._writer.execute("PRAGMA journal_mode=WAL")
        self._writer.execute("PRAGMA synchronous=FULL")

    def _connect(self) -> tuple[sqlite3.Connection, threading.Lock]:
        try:
            conn = sqlite3.connect(
                self.path,
                uri=self.path.startswith("file:"),
                isolation_level=None,
                check_same_thread=False,
                timeout=self.lock_timeout_s,
            )
        except sqlite3.Error as e:
            msg = f"cannot open the embedded store at {self.path!r}: {e}"
            raise InterfaceError(msg) from e
        in_use = threading.Lock()
        with self._connections_lock:
            self._connections.append((conn, in_use))
        return conn, in_use

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, serialised across threads and processes."""
        with self.write_lock:
            conn = self._writer
            if self._closed:
                msg = f"the embedded store at {self.path!r} is closed"
                raise InterfaceError(msg)
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise _translate(e) from e
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as e:
                conn.execute("ROLLBACK")
                raise _translate(e) from e

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for the length of the block."""
        local: tuple[sqlite3.Connection, threading.Lock] | None = getattr(self._local, "conn", None)
        if local is None:
            local = self._connect()
            self._local.conn = local
        conn, in_use = local
        with in_use:
            if self._closed:
                msg = f"the embedded store at {self.path!r} is closed"
                raise InterfaceError(msg)
            conn.execute("BEGIN")
            try:
                yield conn
            except sqlite3.Error as e:
                raise _translate(e) from e
            finally:
                conn.execute("COMMIT")

    def close(self) -> None:
        """Close every connection once no thread is using it.

        A connection still held after CLOSE_WAIT_S (a reader abandoned mid-
        read) is left to the garbage collector rather than closed under it.
        """
        with self.write_lock, self._connections_lock:
            self._closed = True
            for conn, in_use in self._connections:
                if in_use.acquire(timeout=CLOSE_WAIT_S):
                    try:
                        conn.close()
                    finally:
                        in_use.release()
            self._connections.clear()


def _translate(error: sqlite3.Error) -> Exception:
    if isinstance(error, sqlite3.IntegrityError):
        return IntegrityError(str(error))
    if isinstance(error, sqlite3.OperationalError):
        return OperationalError(str(error))
    return DataError(str(error))


class SQLiteRecorder:
    def __init__(self, datastore: SQLiteDatastore) -> None:
        self.datastore = datastore

    def create_table_statements(self) -> list[str]:
        return []

    def create_table(self) -> None:
        with self.datastore.writing() as conn:
            for statement in self.create_table_statements():
                conn.execute(statement)


class SQLiteAggregateRecorder(SQLiteRecorder, AggregateRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore)
        self.name = events_table_name
        self.commits = f"{events_table_name}_commits"
        self.index = f"{events_table_name}_index"
        self.meta = f"{events_table_name}_meta"
        # The head map and the last notification id it accounts for; None
        # until the first write loads it.
        self._heads: dict[str, int] | None = None
        self._heads_position = 0
        self._listeners: set[threading.Event] = set()

    def create_table_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.commits} ("
            "position INTEGER PRIMARY KEY, count INTEGER NOT NULL, body BLOB NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.index} ("
            "stream TEXT, version INTEGER, position INTEGER NOT NULL, "
            "PRIMARY KEY (stream, version)) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {self.meta} ("
            "key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
        ]

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        positions = self._commit(stored_events, kwargs.get("tracking"))
        return None if type(self) is SQLiteAggregateRecorder else positions

    def _commit(self, stored_events: Sequence[StoredEvent], tracking: Tracking | None) -> list[int]:
        """The commit protocol, in order:

        1. Check the commit against the store's limits, before taking any lock.
        2. Take the write lock (BEGIN IMMEDIATE): one writer at a time.
        3. Fold in commits other writers appended since the head map's position.
        4. Check every (stream, version) is above its stream's head.
        5. Record the tracking position, if any (it must move forward).
        6. Append one commit row and COMMIT; only then move the head map on.
        """
        columns = Columns.of(stored_events)
        check_limits(columns, EVENTS_PER_COMMIT_MAX, COMMIT_BYTES_MAX)
        if not columns and tracking is None:
            return []
        body = pack(columns) if columns else b""
        # The lock outlives the transaction so that the head map moves on
        # before any other thread can fold in this very commit.
        with self.datastore.write_lock:
            with self.datastore.writing() as conn:
                heads = self._fold_in(conn)
                changed = check_versions(heads, columns)
                if tracking is not None:
                    _insert_tracking(conn, tracking)
                first = self._heads_position + 1
                if columns:
                    conn.execute(
                        f"INSERT INTO {self.commits} VALUES (?, ?, ?)",
                        (first, len(columns), body),
                    )
            heads.update(changed)
            self._heads_position += len(columns)
        self._notify_listeners()
        return list(range(first, first + len(columns)))

    def _fold_in(self, conn: sqlite3.Connection) -> dict[str, int]:
        if self._heads is None:
            self._heads, self._heads_position = self._load_heads(conn)
        for position, count, body in conn.execute(
            f"SELECT position, count, body FROM {self.commits} WHERE position > ? "
            "ORDER BY position",
            (self._heads_position,),
        ):
            self._heads.update(Commit(body).streams())
            self._heads_position = position + count - 1
        return self._heads

    def _load_heads(self, conn: sqlite3.Connection) -> tuple[dict[str, int], int]:
        """Heads from the stream index; `_fold_in` adds the commits after it."""
        heads = dict(conn.execute(f"SELECT stream, MAX(version) FROM {self.index} GROUP BY stream"))
        return heads, self._indexed_position(conn)

    def _indexed_position(self, conn: sqlite3.Connection) -> int:
        row = conn.execute(
            f"SELECT value FROM {self.meta} WHERE key = 'indexed_position'"
        ).fetchone()
        return 0 if row is None else int(row[0])

    def catch_up_index(self) -> None:
        """Index every commit not yet in the stream index (idempotent)."""
        with self.datastore.reading() as conn:
            behind = self._indexed_position(conn) < self._max_position(conn)
        if not behind:
            return
        with self.datastore.writing() as conn:
            indexed = self._indexed_position(conn)
            while True:
                rows = conn.execute(
                    f"SELECT position, count, body FROM {self.commits} WHERE position > ? "
                    "ORDER BY position LIMIT ?",
                    (indexed, PAGE_COMMITS),
                ).fetchall()
                if not rows:
                    break
                conn.executemany(
                    f"INSERT INTO {self.index} VALUES (?, ?, ?)",
                    (
                        (stream, version, position + i)
                        for position, _count, body in rows
                        for i, (stream, version) in enumerate(Commit(body).streams())
                    ),
                )
                indexed = rows[-1][0] + rows[-1][1] - 1
            conn.execute(
                f"INSERT INTO {self.meta} VALUES ('indexed_position', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (indexed,),
            )

    def _max_position(self, conn: sqlite3.Connection) -> int:
        row = conn.execute(
            f"SELECT position + count - 1 FROM {self.commits} ORDER BY position DESC LIMIT 1"
        ).fetchone()
        return 0 if row is None else int(row[0])

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        self.catch_up_index()
        statement = f"SELECT position FROM {self.index} WHERE stream = ?"
        params: list[Any] = [stream_key(originator_id)]
        if gt is not None:
            statement += " AND version > ?"
            params.append(gt)
        if lte is not None:
            statement += " AND version <= ?"
            params.append(lte)
        statement += " ORDER BY version DESC" if desc else " ORDER BY version"
        if limit is not None:
            statement += " LIMIT ?"
            params.append(limit)
        with self.datastore.reading() as conn:
            positions = [row[0] for row in conn.execute(statement, params)]
            commits: dict[int, list[PackedEvent]] = {}
            return [self._event_at(conn, commits, p) for p in positions]

    def _event_at(
        self, conn: sqlite3.Connection, commits: dict[int, list[PackedEvent]], position: int
    ) -> StoredEvent:
        """The event at a notification id; `commits` keeps decoded commits for the call."""
        (first,) = conn.execute(
            f"SELECT position FROM {self.commits} WHERE position <= ? "
            "ORDER BY position DESC LIMIT 1",
            (position,),
        ).fetchone()
        if first not in commits:
            (body,) = conn.execute(
                f"SELECT body FROM {self.commits} WHERE position = ?", (first,)
            ).fetchone()
            commits[first] = Commit(body).events()
        packed_id, version, topic, state = commits[first][position - first]
        return StoredEvent(originator(packed_id), version, topic, state)

    def _notify_listeners(self) -> None:
        for listener in list(self._listeners):
            listener.set()


def _insert_tracking(conn: sqlite3.Connection, tracking: Tracking) -> None:
    row = conn.execute(
        "INSERT INTO tracking VALUES (:name, :id) ON CONFLICT (application_name) "
        "DO UPDATE SET notification_id = :id WHERE tracking.notification_id < :id "
        "RETURNING notification_id",
        {"name": tracking.application_name, "id": tracking.notification_id},
    ).fetchone()
    if row is None:
        msg = (
            f"tracking for {tracking.application_name!r} is already at or past "
            f"notification {tracking.notification_id}"
        )
        raise IntegrityError(msg)


class SQLiteApplicationRecorder(SQLiteAggregateRecorder, ApplicationRecorder):
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
        wanted = set(topics)
        return list(islice(self._notifications_from(low, stop, wanted), limit))

    def _notifications_from(
        self, low: int, stop: int | None, topics: set[str]
    ) -> Iterator[Notification]:
        with self.datastore.reading() as conn:
            rows = conn.execute(
                f"SELECT position, body FROM {self.commits} "
                "WHERE position + count > ? AND position <= ? ORDER BY position",
                (low, stop if stop is not None else 2**62),
            )
            for first, body in rows:
                for i, (packed_id, version, topic, state) in enumerate(Commit(body).events()):
                    nid = first + i
                    if nid < low or (topics and topic not in topics):
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

    def read_commits(self, after: int = 0) -> Iterator[tuple[int, Commit]]:
        """Every commit holding events after notification `after`, with its first id.

        For replays: no Notification object is built per event. Commits are
        read in pages, so a long replay does not hold one read transaction.
        """
        while True:
            with self.datastore.reading() as conn:
                rows = conn.execute(
                    f"SELECT position, count, body FROM {self.commits} "
                    "WHERE position + count > ? ORDER BY position LIMIT ?",
                    (after + 1, PAGE_COMMITS),
                ).fetchall()
            if not rows:
                return
            for first, count, body in rows:
                yield first, Commit(body)
                after = first + count - 1

    def max_notification_id(self) -> int | None:
        with self.datastore.reading() as conn:
            return self._max_position(conn) or None

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return SQLiteSubscription(self, gt=gt, topics=topics)


class SQLiteSubscription(ListenNotifySubscription[SQLiteApplicationRecorder]):
    """Wakes on commits in this process at once, on other processes' within a poll."""

    def __init__(
        self, recorder: SQLiteApplicationRecorder, gt: int | None, topics: Sequence[str]
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        recorder._listeners.add(self._has_been_notified)
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._has_been_stopped:
            time.sleep(SUBSCRIPTION_POLL_S)
            self._has_been_notified.set()

    def stop(self) -> None:
        self._recorder._listeners.discard(self._has_been_notified)
        super().stop()


class SQLiteTrackingRecorder(SQLiteRecorder, TrackingRecorder):
    def create_table_statements(self) -> list[str]:
        return [
            *super().create_table_statements(),
            "CREATE TABLE IF NOT EXISTS tracking ("
            "application_name TEXT PRIMARY KEY, notification_id INTEGER NOT NULL) "
            "WITHOUT ROWID",
        ]

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.datastore.writing() as conn:
            _insert_tracking(conn, tracking)

    def max_tracking_id(self, application_name: str) -> int | None:
        with self.datastore.reading() as conn:
            row = conn.execute(
                "SELECT notification_id FROM tracking WHERE application_name = ?",
                (application_name,),
            ).fetchone()
        return None if row is None else int(row[0])


class SQLiteProcessRecorder(SQLiteTrackingRecorder, SQLiteApplicationRecorder, ProcessRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        SQLiteApplicationRecorder.__init__(self, datastore, events_table_name)


class SQLiteFactory(StoreFactory[SQLiteTrackingRecorder]):
    """Built from the environment, as eventsourcing builds its own factories.

    `SQLITE_DBNAME` names the file. Select it with
    `PERSISTENCE_MODULE=engine.store.sqlite`, or from a `sqlite:///path` URL
    with `engine.store.open_factory`.
    """

    SQLITE_DBNAME: ClassVar[str] = "SQLITE_DBNAME"
    SQLITE_LOCK_TIMEOUT: ClassVar[str] = "SQLITE_LOCK_TIMEOUT"

    datastore: SQLiteDatastore
    application_recorder_class = SQLiteApplicationRecorder
    tracking_recorder_class = SQLiteTrackingRecorder
    process_recorder_class = SQLiteProcessRecorder

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        path = self.env.get(self.SQLITE_DBNAME)
        if not path:
            keys = ", ".join(self.env.create_keys(self.SQLITE_DBNAME))
            msg = f"no SQLite file named: set one of {keys}"
            raise InterfaceError(msg)
        timeout = self.env.get(self.SQLITE_LOCK_TIMEOUT) or str(LOCK_TIMEOUT_S_DEFAULT)
        try:
            lock_timeout_s = float(timeout)
        except ValueError:
            msg = f"{self.SQLITE_LOCK_TIMEOUT} must be a number of seconds, got {timeout!r}"
            raise InterfaceError(msg) from None
        self.datastore = SQLiteDatastore(path, lock_timeout_s=lock_timeout_s)

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        recorder = SQLiteAggregateRecorder(self.datastore, f"stored_{purpose}")
        self._ready(recorder)
        return recorder

    def close(self) -> None:
        self.datastore.close()
