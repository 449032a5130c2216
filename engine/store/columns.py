"""A commit's events as columns: how the engine hands a commit to its stores.

eventsourcing's recorders take a commit as a sequence of `StoredEvent`, one
object an event. The engine's writer commits thousands of events at a time,
and building those objects cost more than half as much as encoding the events
themselves (measured on a commit of the flow's 10,000 events: 0.6-0.9 us an
event to build, 0.8-1.1 us to encode), only for the stores to take them apart
again, field by field, to pack them. So the engine builds the four columns
the stores read (`engine.codec.to_stored_columns`) and the stores read any
commit through `Columns.of`, which takes the columns as they are.

A `Columns` is still a `Sequence[StoredEvent]`: indexing or iterating it
builds the stored events, so it goes anywhere a list of them goes, and code
that knows nothing of columns (eventsourcing's own, a test) works unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import compress
from operator import attrgetter
from typing import Any, Final, overload
from uuid import UUID

from eventsourcing.persistence import DataError, StoredEvent

__all__ = ["Columns", "check_limits"]

_originator_id: Final = attrgetter("originator_id")
_originator_version: Final = attrgetter("originator_version")
_topic: Final = attrgetter("topic")
_state: Final = attrgetter("state")


class Columns(Sequence[StoredEvent]):
    """Stored events as four lists of one length: event i is
    `StoredEvent(ids[i], versions[i], topics[i], states[i])`."""

    __slots__ = ("ids", "states", "topics", "versions")

    def __init__(
        self,
        ids: list[UUID | str],
        versions: list[int],
        topics: list[str],
        states: list[bytes],
    ) -> None:
        if not len(ids) == len(versions) == len(topics) == len(states):
            msg = (
                f"columns of one commit differ in length: {len(ids)} ids, "
                f"{len(versions)} versions, {len(topics)} topics, {len(states)} states"
            )
            raise ValueError(msg)
        self.ids = ids
        self.versions = versions
        self.topics = topics
        self.states = states

    @classmethod
    def of(cls, stored_events: Sequence[StoredEvent]) -> Columns:
        """`stored_events` as columns: themselves if they are columns already."""
        if isinstance(stored_events, Columns):
            return stored_events
        return cls(
            list(map(_originator_id, stored_events)),
            list(map(_originator_version, stored_events)),
            list(map(_topic, stored_events)),
            list(map(_state, stored_events)),
        )

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> StoredEvent: ...

    @overload
    def __getitem__(self, index: slice) -> Columns: ...

    def __getitem__(self, index: int | slice) -> StoredEvent | Columns:
        if isinstance(index, slice):
            return Columns(
                self.ids[index], self.versions[index], self.topics[index], self.states[index]
            )
        return StoredEvent(
            self.ids[index], self.versions[index], self.topics[index], self.states[index]
        )

    def __iter__(self) -> Iterator[StoredEvent]:
        return map(StoredEvent, self.ids, self.versions, self.topics, self.states)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Columns):
            return (self.ids, self.versions, self.topics, self.states) == (
                other.ids,
                other.versions,
                other.topics,
                other.states,
            )
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable lists inside, as a list is

    def __repr__(self) -> str:
        return f"Columns({len(self)} events)"

    def select(self, chosen: bytes | Sequence[Any]) -> Columns:
        """The events whose `chosen` item is true, in order (no Python call an event)."""
        return Columns(
            list(compress(self.ids, chosen)),
            list(compress(self.versions, chosen)),
            list(compress(self.topics, chosen)),
            list(compress(self.states, chosen)),
        )

    def state_bytes(self) -> int:
        return sum(map(len, self.states))


def check_limits(columns: Columns, events_max: int, bytes_max: int) -> None:
    """DataError unless the commit is within a store's limits, named in the
    message by their constants' names, so a caller knows what to split."""
    if len(columns) > events_max:
        msg = (
            f"a commit holds at most {events_max} events "
            f"(EVENTS_PER_COMMIT_MAX), got {len(columns)}: split it"
        )
        raise DataError(msg)
    size = columns.state_bytes()
    if size > bytes_max:
        msg = (
            f"a commit holds at most {bytes_max} bytes of event state "
            f"(COMMIT_BYTES_MAX), got {size}: split it"
        )
        raise DataError(msg)
