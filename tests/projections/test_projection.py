"""The projection contract's helpers: the events a projection is handed, timestamps as text,
held rows sorted into what a batch writes."""

from __future__ import annotations

from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path

import pytest

from engine.demo import run_demo
from engine.simulator import SimulatorSettings
from engine.stock.events import StockPayload
from engine.store import open_factory
from projections import select
from projections.inventory import Inventory
from projections.platform import Platform
from projections.projection import KINDS_MAX, HeldRows, Kinds, payload_types, read_by, stamp
from projections.runner import read_batches


def test_a_projection_is_handed_only_the_events_it_reads(tmp_path: Path) -> None:
    recorder = open_factory(f"sqlite:///{tmp_path}/store.db").application_recorder()
    run_demo(recorder, SimulatorSettings(orders=30, customers=5, skus=10))
    _, events, kinds = next(read_batches(recorder, 0))
    assert [kinds.present[code] for code in kinds.codes] == [type(e.data) for _, e in events]
    assert kinds == Kinds.of(payload_types(events))

    stock = read_by(Inventory(), events, kinds)
    assert stock == [e for e in events if isinstance(e[1].data, StockPayload)]
    assert 0 < len(stock) < len(events)
    assert read_by(Platform(), events, kinds) is events
    for projection in select():
        read = read_by(projection, events, kinds)
        assert read_by(projection, read, Kinds.of(payload_types(read))) is read
        # Coded with the types of a whole batch, as the runner hands one batch to every projection.
        assert read_by(projection, events[1:], kinds.after(1)) == read_by(
            projection, events[1:], Kinds.of(payload_types(events[1:]))
        )


def test_kinds_code_at_most_kinds_max_types_a_batch() -> None:
    kinds = [type(f"Kind{n}", (), {}) for n in range(KINDS_MAX + 1)]
    assert len(Kinds.of(kinds[:KINDS_MAX]).present) == KINDS_MAX
    with pytest.raises(ValueError, match="257 payload types"):
        Kinds.of(kinds)


def test_stamp_is_isoformat() -> None:
    at = datetime(2026, 3, 1, 12, 30, 5, 123, tzinfo=UTC)
    assert stamp(at) == at.isoformat()
    assert stamp(at.replace()) == at.isoformat()
    assert stamp(at.replace(microsecond=0)) == "2026-03-01T12:30:05+00:00"


def test_held_rows_settle_into_updates_inserts_and_deletes() -> None:
    held = {"t": {("a",): {"k": "a", "n": 1}, ("b",): {"k": "b", "n": 2}}}
    stored = {"t": {("a",), ("b",)}}
    rows = HeldRows(held, stored)
    rows.row("t", ("a",))["n"] = 10  # type: ignore[index]
    rows.delete("t", ("b",))
    rows.insert("t", ("c",), {"k": "c", "n": 3})
    rows.insert("t", ("d",), {"k": "d", "n": 4})
    rows.delete("t", ("d",))  # inserted and deleted in one batch: never written
    rows.insert("t", ("e",), {"k": "e", "n": 5})
    rows.delete("t", ("e",))
    rows.insert("t", ("e",), {"k": "e", "n": 6})  # deleted, then made again: inserted
    rows.insert("t", ("b",), {"k": "b", "n": 7})  # deleted, then made again: updated

    updates, inserts, deletes = rows.settle("t", itemgetter("k", "n"))

    assert (updates, inserts, deletes) == ([("a", 10), ("b", 7)], [("c", 3), ("e", 6)], [])
    assert held["t"] == {
        ("a",): {"k": "a", "n": 10},
        ("b",): {"k": "b", "n": 7},
        ("c",): {"k": "c", "n": 3},
        ("e",): {"k": "e", "n": 6},
    }
    assert stored["t"] == {("a",), ("b",), ("c",), ("e",)}
    assert rows.settle("t", itemgetter("k", "n")) == ([], [], [])

    rows.delete("t", ("b",))
    rows.delete("t", ("c",))
    assert rows.settle("t", itemgetter("k", "n")) == ([], [], [("b",), ("c",)])
    assert stored["t"] == {("a",), ("e",)}
    assert set(held["t"]) == {("a",), ("e",)}


def test_held_rows_settle_new_rows_in_the_order_they_were_made() -> None:
    keys = [(n,) for n in range(1_000, 0, -7)]
    rows = HeldRows({"t": {}}, {"t": set()})
    for key in keys:
        rows.insert("t", key, {"k": key[0]})
    for key in keys[::3]:
        rows.row("t", key)

    _, inserts, _ = rows.settle("t", itemgetter("k"))

    assert inserts == [key[0] for key in keys]
