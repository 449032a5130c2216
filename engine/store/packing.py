"""The bytes of one commit: a commit's events packed into one record.

    u8                  layout: 0 as below, 1 as below compressed with LZ4 (block)
    u32 little-endian   length of the header
    header              MessagePack [ids, versions, topics, state lengths]
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
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Final
from uuid import UUID

import lz4.block
import msgspec
from eventsourcing.persistence import StoredEvent

# `Any` for ids: msgspec keeps MessagePack's str and bin apart only untyped.
Header = tuple[list[Any], list[int], list[str], list[int]]
PackedEvent = tuple[Any, int, str, bytes]

_encoder: Final = msgspec.msgpack.Encoder()
_header_decoder: Final = msgspec.msgpack.Decoder(Header)
_u32_le: Final = struct.Struct("<I")
_array32: Final = struct.Struct(">BI")
_ARRAY32_TAG: Final = 0xDD
_PLAIN: Final = b"\x00"
_LZ4: Final = b"\x01"
COMPRESS_BYTES_MIN: Final = 4096


def pack(stored_events: Sequence[StoredEvent]) -> bytes:
    ids = [
        e.originator_id.bytes if isinstance(e.originator_id, UUID) else e.originator_id
        for e in stored_events
    ]
    states = [e.state for e in stored_events]
    header = _encoder.encode(
        (
            ids,
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [len(s) for s in states],
        )
    )
    plain = b"".join(
        [_u32_le.pack(len(header)), header, _array32.pack(_ARRAY32_TAG, len(states)), *states]
    )
    if len(plain) >= COMPRESS_BYTES_MIN:
        compressed: bytes = lz4.block.compress(plain)
        if len(compressed) <= len(plain) - len(plain) // 8:
            return _LZ4 + compressed
    return _PLAIN + plain


class Commit:
    """One stored commit, read without copying its states until asked."""

    __slots__ = ("_body", "_states_at", "header")

    def __init__(self, stored: bytes) -> None:
        body = lz4.block.decompress(stored[1:]) if stored[:1] == _LZ4 else stored[1:]
        (header_len,) = _u32_le.unpack_from(body)
        self._body = body
        self.header: Header = _header_decoder.decode(memoryview(body)[4 : 4 + header_len])
        self._states_at = 4 + header_len + _array32.size

    @property
    def states_array(self) -> memoryview:
        """Every state as one MessagePack array (valid when each state is one value)."""
        return memoryview(self._body)[self._states_at - _array32.size :]

    def events(self) -> list[PackedEvent]:
        ids, versions, topics, lengths = self.header
        body, at = self._body, self._states_at
        events = []
        for i, length in enumerate(lengths):
            events.append((ids[i], versions[i], topics[i], body[at : at + length]))
            at += length
        return events


def originator(packed_id: str | bytes) -> UUID | str:
    return UUID(bytes=packed_id) if isinstance(packed_id, bytes) else packed_id


def packed_key(packed_id: str | bytes) -> str:
    """The text a stream is indexed by: a UUID's hex, as eventsourcing writes it."""
    return packed_id.hex() if isinstance(packed_id, bytes) else packed_id
