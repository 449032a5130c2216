"""What a projection is: its tables, and a pure fold of events into their rows.

A projection never talks to the database. For each batch of events it names
the rows it will read or write (`keys`); the runner loads those rows, the
projection folds the events into them (`fold`), and the runner writes back
every row the fold touched, the rows it appended and the rows it deleted,
all in the transaction that also moves its checkpoint. So a projection is a
function of (rows before, events) to rows after, testable without SQL, and
each row is written once per batch however many events touched it.

Rows are dicts keyed by column name; a ledger line appended is a tuple of its
values in column order. A key is the tuple of a table's key column values,
in the table's order. Events come as `ProjectedEvent`s: a stream event with
the id of the command that caused it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import compress, filterfalse
from operator import attrgetter, itemgetter
from typing import Any, ClassVar, Final

from engine.events import OrderLine, StreamEvent

__all__ = [
    "BIGINT",
    "KINDS_MAX",
    "TEXT",
    "HeldRows",
    "Key",
    "Kinds",
    "Positioned",
    "ProjectedEvent",
    "Projection",
    "Rows",
    "Table",
    "payload_types",
    "quantity",
    "read_by",
    "stamp",
    "value_cents",
]

TEXT: Final = "TEXT"
BIGINT: Final = "BIGINT"

Key = tuple[Any, ...]


class ProjectedEvent(StreamEvent, frozen=True, gc=False, kw_only=True):
    """A stream event with what read models need of its lineage besides.

    `causation_id` is the 16 bytes of the envelope's causation id, as the
    store keeps them: the command that caused the event (the engine stamps
    all of a command's events with its id, and writes them one after the
    other in one commit). Bytes, not a `UUID`: read models only compare and
    count them, and a `UUID` an event would cost the decoding a sixth more.
    """

    causation_id: bytes


# An event with its notification id in the store it was read from.
Positioned = tuple[int, ProjectedEvent]


@dataclass(frozen=True)
class Table:
    """A read-model table: columns (name, SQL type), the key columns first."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        names = [name for name, _ in self.columns]
        if tuple(names[: len(self.key)]) != self.key:
            msg = f"table {self.name}: the key columns {self.key} must come first, in order"
            raise ValueError(msg)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def create(self, physical: str) -> str:
        columns = ", ".join(
            f"{name} {kind}{' NOT NULL' if name in self.key else ''}" for name, kind in self.columns
        )
        key = ", ".join(self.key)
        return f"CREATE TABLE IF NOT EXISTS {physical} ({columns}, PRIMARY KEY ({key}))"

    def create_indexes(self, physical: str) -> list[str]:
        return [
            f"CREATE INDEX IF NOT EXISTS {physical}_{'_'.join(cols)}_idx "
            f"ON {physical} ({', '.join(cols)})"
            for cols in self.indexes
        ]


class Rows:
    """The rows one batch reads and writes.

    `row` hands out a row for writing (it will be written back), `peek` one
    for reading only; `insert` puts a new row, `delete` removes one, `append`
    adds a row that is never read back (a ledger line), as its values in the
    table's column order: it goes to the database as it is, with no dict to
    build and read back. Asking for a row that was not loaded is a bug in the
    projection's `keys`, and says so.
    """

    __slots__ = ("appended", "existed", "loaded", "written")

    def __init__(self, loaded: Mapping[str, dict[Key, dict[str, Any] | None]]) -> None:
        self.loaded = {table: dict(rows) for table, rows in loaded.items()}
        self.existed = {
            table: {key for key, row in rows.items() if row is not None}
            for table, rows in loaded.items()
        }
        # Keys as dict keys, not a set: in the order first written, which for new
        # rows is the order they were made in (see `HeldRows.settle`).
        self.written: dict[str, dict[Key, None]] = {table: {} for table in loaded}
        self.appended: dict[str, list[tuple[Any, ...]]] = {}

    def _rows(self, table: str, key: Key) -> dict[Key, dict[str, Any] | None]:
        rows = self.loaded[table]
        if key not in rows:
            msg = f"row {key} of {table} was not loaded: the projection's keys() misses it"
            raise KeyError(msg)
        return rows

    def peek(self, table: str, key: Key) -> dict[str, Any] | None:
        return self._rows(table, key)[key]

    def row(self, table: str, key: Key) -> dict[str, Any] | None:
        row = self._rows(table, key)[key]
        if row is not None:
            self.written[table][key] = None
        return row

    def insert(self, table: str, key: Key, row: dict[str, Any]) -> dict[str, Any]:
        self._rows(table, key)[key] = row
        self.written[table][key] = None
        return row

    def delete(self, table: str, key: Key) -> None:
        self._rows(table, key)[key] = None
        self.written[table][key] = None

    def append(self, table: str, values: tuple[Any, ...]) -> None:
        self.appended.setdefault(table, []).append(values)


class HeldRows(Rows):
    """Rows of tables held whole in memory, as a rebuild from zero holds them.

    Every row of the tables is in `loaded`, so a key that is not there is a
    row that does not exist: nothing is loaded, and `keys` is not asked.
    `existed` is the keys the database holds, brought up to date by `settle`
    as the batch is written; `loaded` is shared with the caller.
    """

    __slots__ = ("deleted",)

    def __init__(
        self, held: dict[str, dict[Key, dict[str, Any] | None]], stored: dict[str, set[Key]]
    ) -> None:
        self.loaded = held
        self.existed = stored
        self.written = {table: {} for table in held}
        self.appended = {}
        # Keys deleted this batch (some made again since), so that `settle`
        # looks at each written row only through C-level filters.
        self.deleted: dict[str, dict[Key, None]] = {table: {} for table in held}

    def _rows(self, table: str, key: Key) -> dict[Key, dict[str, Any] | None]:
        return self.loaded[table]

    def peek(self, table: str, key: Key) -> dict[str, Any] | None:
        return self.loaded[table].get(key)

    def row(self, table: str, key: Key) -> dict[str, Any] | None:
        row = self.loaded[table].get(key)
        if row is not None:
            self.written[table][key] = None
        return row

    def delete(self, table: str, key: Key) -> None:
        super().delete(table, key)
        self.deleted[table][key] = None

    def settle(
        self, table: str, values: Callable[[dict[str, Any]], Sequence[Any]]
    ) -> tuple[list[Sequence[Any]], list[Sequence[Any]], list[Key]]:
        """`table`'s rows written this batch, as (updates, inserts, deletes) of their `values`.

        Memory and `existed` are brought up to date as the rows are sorted (the
        deleted leave, the inserted join), so the caller writes them in the
        batch's transaction or, should that fail, drops this `HeldRows` whole.
        """
        held, stored, written = self.loaded[table], self.existed[table], self.written[table]
        gone = [key for key in self.deleted[table] if held[key] is None]
        deletes = [key for key in gone if key in stored]
        for key in gone:
            del held[key], written[key]
        stored.difference_update(gone)
        # Rows in the order first written: new rows in the order they were made,
        # so memory is read in order, and keys that grow are inserted in order.
        fresh = list(filterfalse(stored.__contains__, written))
        updates = list(map(values, map(held.__getitem__, filter(stored.__contains__, written))))
        inserts = list(map(values, map(held.__getitem__, fresh)))
        stored.update(fresh)
        written.clear()
        self.deleted[table].clear()
        return updates, inserts, deletes


class Projection(ABC):
    """A read model: its tables and how events change their rows.

    `keys` and `fold` see the same events, in notification order, and must
    agree: every row `fold` reads or writes is named by `keys`. Neither may
    read anything but its arguments (no clock, no I/O), so a rebuild from
    zero gives the rows the live projection has.
    """

    name: ClassVar[str]
    tables: ClassVar[tuple[Table, ...]]
    # The event payload classes (with their subclasses) `keys` and `fold` look
    # at; the runner hands the projection no other events. None: every event.
    reads: ClassVar[tuple[type, ...] | None] = None

    @abstractmethod
    def keys(self, events: Sequence[Positioned]) -> Iterator[tuple[str, Key]]:
        """(table, key) of every row the fold of `events` reads or writes."""

    @abstractmethod
    def fold(self, rows: Rows, events: Sequence[Positioned]) -> None:
        """Apply `events` to `rows`."""

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name == name:
                return table
        msg = f"projection {self.name} has no table {name!r}"
        raise KeyError(msg)


_STAMPS_MAX: Final = 4_096


class _Stamps(dict[datetime, str]):
    """`timestamp.isoformat()` by timestamp, up to `_STAMPS_MAX` of them."""

    def __missing__(self, timestamp: datetime) -> str:
        if len(self) >= _STAMPS_MAX:
            self.clear()
        text = self[timestamp] = timestamp.isoformat()
        return text


# `timestamp.isoformat()`, remembered: slow, and a commit's events share one
# timestamp. A dict's own lookup, so a remembered text costs no Python call.
stamp: Final[Callable[[datetime], str]] = _Stamps().__getitem__


# An order line's `quantity`: `sum(map(quantity, lines))` runs no Python frame a line.
quantity: Final[Callable[[Any], int]] = attrgetter("quantity")


def value_cents(lines: Iterable[OrderLine]) -> int:
    """What order lines are worth at their unit prices (a loop: half a generator's cost)."""
    total = 0
    for line in lines:
        total += line.quantity * line.unit_price_cents
    return total


# Payload types one batch may hold: `Kinds` codes each in a byte.
KINDS_MAX: Final = 256
_event: Final = itemgetter(1)
_data: Final = attrgetter("data")


@dataclass(frozen=True, slots=True)
class Kinds:
    """The payload types of a batch's events, coded a byte an event: `present[code]`.

    Made once a batch and handed to every projection's `read_by`, which then
    picks a projection's events with a C-level `bytes.translate` and
    `compress`: no Python-level call an event and a projection.
    """

    codes: bytes
    present: tuple[type, ...]

    @classmethod
    def of(cls, kinds: Sequence[type]) -> Kinds:
        present = tuple(dict.fromkeys(kinds))
        if len(present) > KINDS_MAX:
            msg = (
                f"a batch holds {len(present)} payload types, more than the "
                f"{KINDS_MAX} Kinds codes in a byte: read smaller batches"
            )
            raise ValueError(msg)
        code = {kind: i for i, kind in enumerate(present)}
        return cls(bytes(map(code.__getitem__, kinds)), present)

    def after(self, start: int) -> Kinds:
        """The kinds of the events from `start` on."""
        return Kinds(self.codes[start:], self.present)


def payload_types(events: Iterable[Positioned]) -> list[type]:
    """The types of the events' payloads, in order."""
    return list(map(type, map(_data, map(_event, events))))


def read_by(
    projection: Projection, events: Sequence[Positioned], kinds: Kinds
) -> Sequence[Positioned]:
    """The events of `events` that `projection` reads, in order; `kinds`: their payloads' types."""
    reads = projection.reads
    if reads is None:
        return events
    read = bytes(issubclass(kind, reads) for kind in kinds.present)
    if all(read):
        return events
    return list(compress(events, kinds.codes.translate(read.ljust(KINDS_MAX, b"\0"))))


def group_keys(pairs: Iterable[tuple[str, Key]]) -> dict[str, set[Key]]:
    grouped: dict[str, set[Key]] = {}
    for table, key in pairs:
        grouped.setdefault(table, set()).add(key)
    return grouped
