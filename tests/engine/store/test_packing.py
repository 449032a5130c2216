"""The packed layout keeps its bytes: a UUID originator id is stored as its 16 bytes."""

from __future__ import annotations

import uuid

from eventsourcing.persistence import StoredEvent

from engine.store.packing import Commit, originator, pack


def test_a_uuid_originator_id_packs_as_its_16_bytes_and_reads_back_a_uuid() -> None:
    stream = uuid.uuid4()
    events = [
        StoredEvent(stream, 1, "events:Created", b"\x80"),
        StoredEvent("order-1", 1, "orders:OrderPlaced", b"\x81\xa1a\x01"),
    ]
    as_bytes = [StoredEvent(stream.bytes, 1, "events:Created", b"\x80"), events[1]]  # type: ignore[arg-type]
    packed = pack(events)
    assert packed == pack(as_bytes)
    assert [originator(i) for i in Commit(packed).header.ids] == [stream, "order-1"]
