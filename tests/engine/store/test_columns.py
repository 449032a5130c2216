"""A commit as columns: the same stored events as a list of them, and checked alike."""

from __future__ import annotations

from uuid import uuid4

import pytest
from eventsourcing.persistence import DataError, StoredEvent

from engine.store.columns import Columns, check_limits
from engine.store.heads import check_versions
from engine.store.packing import Commit, pack

EVENTS = [
    StoredEvent("order-1", 1, "orders:OrderPlaced", b"\xa1a"),
    StoredEvent(uuid4(), 3, "other:Thing", b"\xa2bb"),
    StoredEvent("order-1", 2, "orders:OrderConfirmed", b"\xa3ccc"),
]


def test_columns_of_stored_events_are_those_events() -> None:
    columns = Columns.of(EVENTS)
    assert len(columns) == 3
    assert list(columns) == EVENTS
    assert [columns[i] for i in range(3)] == EVENTS
    assert list(columns[1:]) == EVENTS[1:]
    assert columns == EVENTS
    assert Columns.of(columns) is columns
    assert columns.ids == [e.originator_id for e in EVENTS]
    assert columns.state_bytes() == 2 + 3 + 4


def test_select_keeps_the_chosen_events_in_order() -> None:
    assert list(Columns.of(EVENTS).select(b"\x01\x00\x01")) == [EVENTS[0], EVENTS[2]]


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="2 ids, 1 versions, 2 topics, 2 states"):
        Columns(["a", "b"], [1], ["t", "t"], [b"", b""])


def test_a_commit_packs_the_same_from_columns_as_from_stored_events() -> None:
    packed = pack(Columns.of(EVENTS))
    assert packed == pack(EVENTS)
    assert [(e[1], e[2], e[3]) for e in Commit(packed).events()] == [
        (e.originator_version, e.topic, e.state) for e in EVENTS
    ]


def test_versions_are_checked_the_same_from_columns() -> None:
    heads = {"order-1": 1}
    with pytest.raises(Exception, match="'order-1' is at version 1; version 1 clashes"):
        check_versions(heads, Columns.of(EVENTS))
    assert check_versions({}, Columns.of(EVENTS))["order-1"] == 2


def test_limits_name_what_to_split() -> None:
    columns = Columns.of(EVENTS)
    check_limits(columns, 3, 9)
    with pytest.raises(DataError, match=r"at most 2 events \(EVENTS_PER_COMMIT_MAX\), got 3"):
        check_limits(columns, 2, 9)
    with pytest.raises(DataError, match=r"at most 8 bytes of event state .* got 9"):
        check_limits(columns, 3, 8)
