"""The bytes of one commit: a commit's events packed into one record.

    u8                  layout: 0 as below, 1 as below compressed with LZ4 (block)
    u32 little-endian   length of the header
    header              MessagePack [topic names, topic of each event, ids,
                        versions, state lengths]
    0xdd, u32 big-endian  MessagePack array header: the number of events
    states              every event's state, back to back

Headers and states are kept apart so that reading what a writer needs (ids
and versions) never copies a state, and so that, when every state is itself
one MessagePack value (as the engine's envelopes are), the array header and
the states together are one MessagePack array: a replay decodes a whole
commit's events in a single call, straight out of the stored bytes.

Commits are compressed with LZ4 when that saves at least an eighth: a durable
commit's cost grows with the bytes synced, and events repeat field names,
stream ids and correlation ids, so LZ4 (gigabytes a second either way) buys
back far more sync time than it spends.

Originator ids are text, or 16 bytes for a UUID, so the type round-trips.

The Kafka store writes a commit's events of each topic as one such record and
`merge` puts a commit's records back together in the commit's order.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Final
from uuid import UUID

import lz4.block
import msgspec
from eventsourcing.persistence import StoredEvent

from engine.store.columns import Columns


class Topics(msgspec.Struct, array_like=True, frozen=True):
    """The head of a header: all a replay reads. Each event's topic is
    `names[of[i]]`, so a commit of one topic decodes one string, not thousands."""

    names: list[str]
    of: list[int]


class Header(Topics, array_like=True, frozen=True):
    # `Any` for ids: msgspec keeps MessagePack's str and bin apart only untyped.
    ids: list[Any]
    versions: list[int]
    lengths: list[int]


PackedEvent = tuple[Any, int, str, bytes]

# A UUID originator id is written as its 16 bytes, as `originator` reads it back.
_encoder: Final = msgspec.msgpack.Encoder(uuid_format="bytes")
_header_decoder: Final = msgspec.msgpack.Decoder(Header)
# An array-like struct ignores trailing items, so this stops after the topics.
_topics_decoder: Final = msgspec.msgpack.Decoder(Topics)
_u32_le: Final = struct.Struct("<I")
_array32: Final = struct.Struct(">BI")
_ARRAY32_TAG: Final = 0xDD
_PLAIN: Final = b"\x00"
_LZ4: Final = b"\x01"
COMPRESS_BYTES_MIN: Final = 4096


def pack(stored_events: Sequence[StoredEvent]) -> bytes:
    # No Python call an event: a commit may hold 100,000 events.
    columns = Columns.of(stored_events)
    names = {name: i for i, name in enumerate(dict.fromkeys(columns.topics))}
    header = Header(
        names=list(names),
        of=list(map(names.__getitem__, columns.topics)),
        ids=columns.ids,
        versions=columns.versions,
        lengths=list(map(len, columns.states)),
    )
    plain = _plain(header, columns.states)
    if len(plain) >= COMPRESS_BYTES_MIN:
        compressed: bytes = lz4.block.compress(plain)
        if len(compressed) <= len(plain) - len(plain) // 8:
            return _LZ4 + compressed
    return _PLAIN + plain


def _plain(header: Header, states: Sequence[bytes | memoryview]) -> bytes:
    encoded = _encoder.encode(header)
    return b"".join(
        [_u32_le.pack(len(encoded)), encoded, _array32.pack(_ARRAY32_TAG, len(states)), *states]
    )


class Commit:
    """One stored commit, read without copying its states until asked."""

    __slots__ = ("_body", "_header_end", "_states_at")

    def __init__(self, stored: bytes) -> None:
        body = lz4.block.decompress(stored[1:]) if stored[:1] == _LZ4 else stored[1:]
        (header_len,) = _u32_le.unpack_from(body)
        self._body = body
        self._header_end = 4 + header_len
        self._states_at = self._header_end + _array32.size

    @property
    def header(self) -> Header:
        return _header_decoder.decode(memoryview(self._body)[4 : self._header_end])

    @property
    def topics(self) -> Topics:
        return _topics_decoder.decode(memoryview(self._body)[4 : self._header_end])

    @property
    def states_array(self) -> memoryview:
        """Every state as one MessagePack array (valid when each state is one value)."""
        return memoryview(self._body)[self._header_end :]

    def streams(self) -> list[tuple[str, int]]:
        """(stream key, version) of each event, in order."""
        header = self.header
        return [(packed_key(i), v) for i, v in zip(header.ids, header.versions, strict=True)]

    def events(self) -> list[PackedEvent]:
        header = self.header
        body, at = self._body, self._states_at
        events = []
        for i, length in enumerate(header.lengths):
            topic = header.names[header.of[i]]
            events.append((header.ids[i], header.versions[i], topic, body[at : at + length]))
            at += length
        return events


def originator(packed_id: str | bytes) -> UUID | str:
    return UUID(bytes=packed_id) if isinstance(packed_id, bytes) else packed_id


def packed_key(packed_id: str | bytes) -> str:
    """The text a stream is indexed by: a UUID's hex, as eventsourcing writes it."""
    return packed_id.hex() if isinstance(packed_id, bytes) else packed_id


def merge(count: int, parts: Sequence[tuple[Sequence[int], Commit]]) -> Commit:
    """One commit of `count` events from parts that each hold some of them.

    Each part comes with the position in the whole commit of each of its
    events; together the parts hold every position exactly once.
    """
    if len(parts) == 1 and len(parts[0][0]) == count:
        return parts[0][1]
    names: dict[str, int] = {}
    of = [0] * count
    ids: list[Any] = [None] * count
    versions = [0] * count
    lengths = [0] * count
    states: list[bytes | memoryview] = [b""] * count
    placed = 0
    for positions, part in parts:
        header = part.header
        renamed = [names.setdefault(name, len(names)) for name in header.names]
        body, at = memoryview(part._body), part._states_at
        for j, position in enumerate(positions):
            length = header.lengths[j]
            of[position] = renamed[header.of[j]]
            ids[position] = header.ids[j]
            versions[position] = header.versions[j]
            lengths[position] = length
            states[position] = body[at : at + length]
            at += length
        placed += len(positions)
    if placed != count:
        msg = f"the parts of a commit of {count} events hold {placed}: the store is damaged"
        raise ValueError(msg)
    header = Header(names=list(names), of=of, ids=ids, versions=versions, lengths=lengths)
    return Commit(_PLAIN + _plain(header, states))
