"""Envelopes to bytes and back: MessagePack for the store, JSON for people, JSON
Schema for other teams, and the mapping to eventsourcing's `StoredEvent`.

UUIDs are stored as 16 raw bytes: measured against the 36-character text form,
a stock event is 60 of 350 bytes smaller, encodes about 15% faster and decodes
about a third faster. JSON keeps the text form. Encoders and decoders are built
once, here.

Reading is two paths. The fast one decodes the envelope fully typed in one pass
and checks the stored schema version against the payload type's current one:
one dictionary lookup. Only when the typed pass fails, or the version is old,
does the slow path decode the payload as a plain dict, run the upcasters of
`engine.upcasting` and decode the result typed; it also names what was wrong.
An upcast envelope reports the current schema version: its `data` has the
current shape. The stored bytes are never rewritten.

The functions of this module are the methods of a `Decoder` over the current
schema (`decode`, `decode_for_replay`, `from_stored`) and stateless encoders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any, Final, Protocol

import msgspec
from eventsourcing.persistence import StoredEvent

from engine.events import SCHEMA_VERSIONS, TOPIC_TYPES, Envelope, Event, Lineage, StreamEvent
from engine.store.columns import Columns
from engine.upcasting import UPCASTERS, Upcaster

__all__ = [
    "CodecError",
    "Decoder",
    "FutureSchemaVersionError",
    "MissingUpcasterError",
    "UndecodableEventError",
    "UnknownEventTypeError",
    "Versioned",
    "all_current",
    "decode",
    "decode_for_replay",
    "encode",
    "from_stored",
    "json_schema",
    "lineages_of_array",
    "payloads_of_array",
    "to_json",
    "to_stored",
    "to_stored_columns",
]


class Versioned(Protocol):
    """A decoded item that says its payload's schema version: an envelope, a
    lineage, a replay's payload, a projection's event."""

    @property
    def schema_version(self) -> int: ...

    @property
    def data(self) -> Event: ...


class CodecError(ValueError):
    """Base of every error reading or configuring event bytes."""


class UndecodableEventError(CodecError):
    """The bytes are not an envelope, or its payload does not fit its declared shape."""


class UnknownEventTypeError(CodecError):
    """The payload's type tag names no payload type this reader knows."""


class FutureSchemaVersionError(CodecError):
    """The payload was written at a newer schema version than this reader knows."""


class MissingUpcasterError(CodecError):
    """A payload type's current schema version cannot be reached from an older one."""


_msgpack_encoder: Final = msgspec.msgpack.Encoder(uuid_format="bytes")
_json_encoder: Final = msgspec.json.Encoder()
_envelope_decoder: Final = msgspec.msgpack.Decoder(Envelope)
_lineage_array_decoder: Final = msgspec.msgpack.Decoder(list[Lineage])
_stream_event_decoder: Final = msgspec.msgpack.Decoder(StreamEvent)
_payload_decoder: Final = msgspec.msgpack.Decoder(Event)


class _VersionedPayload(msgspec.Struct, frozen=True, gc=False):
    schema_version: int
    data: Event


_versioned_payload_array_decoder: Final = msgspec.msgpack.Decoder(list[_VersionedPayload])
_raw_array_decoder: Final = msgspec.msgpack.Decoder(list[msgspec.Raw])

# The slow path's view of an envelope: the same fields, the payload left a dict.
_LooseEnvelope: Final = msgspec.defstruct(
    "_LooseEnvelope",
    [
        (field.name, dict[str, Any] if field.name == "data" else field.type)
        for field in msgspec.structs.fields(Envelope)
    ],
    frozen=True,
)
_loose_decoder: Final = msgspec.msgpack.Decoder(_LooseEnvelope)

_TYPES: Final = {cls.__name__: cls for types in TOPIC_TYPES.values() for cls in types}
_STORED_TOPIC: Final = {
    cls: f"{topic}:{cls.__name__}" for topic, types in TOPIC_TYPES.items() for cls in types
}
_stream_id: Final = attrgetter("stream_id")
_version: Final = attrgetter("version")
_data: Final = attrgetter("data")
_schema_version: Final = attrgetter("schema_version")


def encode(envelope: Envelope) -> bytes:
    """MessagePack bytes of `envelope`, as the store keeps them."""
    return _msgpack_encoder.encode(envelope)


def to_json(envelope: Envelope) -> bytes:
    """One line of JSON for people: ids as text, the timestamp in RFC 3339."""
    return _json_encoder.encode(envelope)


def json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of the envelope and, under `$defs`, of every payload."""
    schema = msgspec.json.schema(Envelope)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def to_stored(envelope: Envelope) -> StoredEvent:
    """The eventsourcing record of `envelope`; `topic` is `<topic>:<payload type>`.

    `state` is the whole encoded envelope, stream and version included, so the
    bytes stand alone: `decode(state)` needs nothing from the record around them.
    """
    return to_stored_columns((envelope,))[0]


def to_stored_columns(envelopes: Sequence[Envelope]) -> Columns:
    """`to_stored` of each envelope, in order, as the columns the stores read:
    the write path's step per commit, with no Python call an envelope.

    No `StoredEvent` is built (see `engine.store.columns`): measured on a
    commit of the flow's events, 1.7-1.9 us an event building one each,
    0.8-1.1 us here, nearly all of it the encoding.
    """
    return Columns(
        list(map(_stream_id, envelopes)),
        list(map(_version, envelopes)),
        list(map(_STORED_TOPIC.__getitem__, map(type, map(_data, envelopes)))),
        list(map(_msgpack_encoder.encode, envelopes)),
    )


class Decoder:
    """Reads stored envelopes under one schema: current versions and upcasters.

    The module's `decode`, `decode_for_replay` and `from_stored` use the current
    schema; build another only to read under a different one (tests).
    """

    __slots__ = ("_only_version", "_upcasters", "_versions")

    def __init__(
        self,
        schema_versions: Mapping[type[Event], int] = SCHEMA_VERSIONS,
        upcasters: Mapping[tuple[str, int], Upcaster] = UPCASTERS,
    ) -> None:
        _check_schema(schema_versions, upcasters)
        self._versions = dict(schema_versions)
        self._upcasters = dict(upcasters)
        distinct = set(self._versions.values())
        self._only_version = distinct if len(distinct) == 1 else None

    def decode(self, data: bytes) -> Envelope:
        """The envelope in `data`, its payload upcast to the current shape if stored older."""
        try:
            envelope = _envelope_decoder.decode(data)
        except msgspec.DecodeError:
            return self._decode_slow(data)
        if envelope.schema_version != self._versions[type(envelope.data)]:
            return self._decode_slow(data)
        return envelope

    def decode_for_replay(self, items: Iterable[bytes]) -> list[StreamEvent]:
        """The stream events in stored envelopes, in order: the ids are skipped unread."""
        decode = _stream_event_decoder.decode
        versions = self._versions
        events = []
        for item in items:
            # The fast path of `decode`, inlined: a call per event would add about 8%.
            try:
                event = decode(item)
            except msgspec.DecodeError:
                event = _stream_event(self._decode_slow(item))
            else:
                if event.schema_version != versions[type(event.data)]:
                    event = _stream_event(self._decode_slow(item))
            events.append(event)
        return events

    def all_current(self, items: Sequence[Versioned]) -> bool:
        """Whether every decoded item is at its payload type's current schema version.

        Gathered with no Python call an item (a generator asking item by item
        took 50 ns an item, a twentieth of a replay into the stock core; this
        takes 19): while every type's current version is the same one, the
        versions present say it; otherwise the few distinct (type, version)
        pairs of the items are looked up.
        """
        if self._only_version is not None:
            return set(map(_schema_version, items)) <= self._only_version
        shapes = set(zip(map(type, map(_data, items)), map(_schema_version, items), strict=True))
        versions = self._versions
        return all(versions.get(kind) == version for kind, version in shapes)

    def lineages_of_array(self, data: bytes | memoryview) -> list[Lineage]:
        """The lineages of one MessagePack array of stored envelopes, in order.

        For recovering a whole engine: one call per commit; an array holding
        an older shape falls back to `decode` per item.
        """
        try:
            lineages = _lineage_array_decoder.decode(data)
        except msgspec.DecodeError:
            lineages = None
        if lineages is None or not self.all_current(lineages):
            return [_lineage(self.decode(bytes(raw))) for raw in _raw_array_decoder.decode(data)]
        return lineages

    def payloads_of_array(self, data: bytes | memoryview) -> list[Event]:
        """The payloads of one MessagePack array of stored envelopes, in order.

        What a replay into a model needs: one call decodes a whole commit
        straight out of the stored bytes, and everything but the payload and
        its schema version is skipped unread. An array holding an older shape
        falls back to `decode_for_replay` item by item.
        """
        try:
            items = _versioned_payload_array_decoder.decode(data)
        except msgspec.DecodeError:
            items = None
        if items is None or not self.all_current(items):
            raws = _raw_array_decoder.decode(data)
            return [e.data for e in self.decode_for_replay(bytes(raw) for raw in raws)]
        return list(map(_data, items))

    def from_stored(self, stored: StoredEvent) -> Envelope:
        """The envelope of an eventsourcing record, checked against the record's own fields."""
        try:
            envelope = self.decode(stored.state)
        except CodecError as error:
            raise type(error)(f"{_describe(stored)}: {error}") from error
        if (
            envelope.stream_id != stored.originator_id
            or envelope.version != stored.originator_version
            or _STORED_TOPIC[type(envelope.data)] != stored.topic
        ):
            msg = (
                f"{_describe(stored)} holds the bytes of event {envelope.version} of stream "
                f"{envelope.stream_id!r} ({_STORED_TOPIC[type(envelope.data)]}); the record "
                f"was written with another record's state, not by engine.codec.to_stored"
            )
            raise UndecodableEventError(msg)
        return envelope

    def _decode_slow(self, data: bytes) -> Envelope:
        try:
            stored: Any = _loose_decoder.decode(data)
        except msgspec.DecodeError as error:
            msg = (
                f"not an event envelope: {error}; the bytes are corrupt or were not "
                f"written by engine.codec.encode"
            )
            raise UndecodableEventError(msg) from error
        where = f"event {stored.version} of stream {stored.stream_id!r}"
        fields = dict(stored.data)
        type_name = fields.pop("type", None)
        cls = _TYPES.get(type_name) if isinstance(type_name, str) else None
        if cls is None:
            msg = (
                f"{where}: unknown payload type {type_name!r} (schema version "
                f"{stored.schema_version}); it was written by a newer stockledger, "
                f"so read it with that version"
            )
            raise UnknownEventTypeError(msg)
        stored_version: int = stored.schema_version
        current = self._versions[cls]
        if stored_version > current:
            msg = (
                f"{where}: {type_name} is at schema version {stored_version}, this reader "
                f"knows up to {current}; read it with the stockledger that wrote it"
            )
            raise FutureSchemaVersionError(msg)
        for version in range(stored_version, current):
            try:
                fields = self._upcasters[(type_name, version)](fields)
            except Exception as error:
                msg = (
                    f"{where}: the upcaster of {type_name} from schema version {version} "
                    f"failed ({error!r}); fix it in engine.upcasting"
                )
                raise UndecodableEventError(msg) from error
        try:
            payload = _payload_decoder.decode(
                _msgpack_encoder.encode({"type": type_name, **fields})
            )
        except msgspec.ValidationError as error:
            raise UndecodableEventError(
                _mismatch(where, type_name, stored_version, current, error)
            ) from error
        return Envelope(
            **{**msgspec.structs.asdict(stored), "schema_version": current, "data": payload}
        )


def _lineage(envelope: Envelope) -> Lineage:
    return Lineage(**{name: getattr(envelope, name) for name in Lineage.__struct_fields__})


def _stream_event(envelope: Envelope) -> StreamEvent:
    return StreamEvent(**{name: getattr(envelope, name) for name in StreamEvent.__struct_fields__})


def _mismatch(where: str, type_name: str, stored: int, current: int, error: Exception) -> str:
    if stored == current:
        return (
            f"{where}: {type_name} stored at schema version {stored} does not fit its "
            f"current definition ({error}); if its shape changed, bump its entry in "
            f"engine.events.SCHEMA_VERSIONS and register an upcaster from version "
            f"{stored} in engine.upcasting"
        )
    return (
        f"{where}: {type_name} upcast from schema version {stored} to {current} does "
        f"not fit its current definition ({error}); fix its upcasters in engine.upcasting"
    )


def _describe(stored: StoredEvent) -> str:
    return f"stored event {stored.originator_version} of {stored.originator_id!r} ({stored.topic})"


def _check_schema(
    schema_versions: Mapping[type[Event], int], upcasters: Mapping[tuple[str, int], Upcaster]
) -> None:
    """Every payload type has a version, and exactly the upcasters 1 -> ... -> it."""
    unversioned = sorted(set(_TYPES) - {cls.__name__ for cls in schema_versions})
    if unversioned:
        msg = f"no schema version for {', '.join(unversioned)}; every payload type needs one"
        raise ValueError(msg)
    current = {cls.__name__: version for cls, version in schema_versions.items()}
    missing = [
        f"{name} from version {version}"
        for name, latest in sorted(current.items())
        for version in range(1, latest)
        if (name, version) not in upcasters
    ]
    if missing:
        msg = (
            f"no upcaster for {', '.join(missing)}; register each with "
            f"@engine.upcasting.upcaster(type_name, from_version)"
        )
        raise MissingUpcasterError(msg)
    stray = [
        f"{name} from version {version} (current: {current.get(name, 'no such type')})"
        for name, version in sorted(upcasters)
        if not 1 <= version < current.get(name, 0)
    ]
    if stray:
        msg = (
            f"upcasters past the current schema version: {', '.join(stray)}; bump the "
            f"type's entry in engine.events.SCHEMA_VERSIONS or remove the upcaster"
        )
        raise ValueError(msg)


_decoder: Final = Decoder()
decode: Final = _decoder.decode
decode_for_replay: Final = _decoder.decode_for_replay
payloads_of_array: Final = _decoder.payloads_of_array
all_current: Final = _decoder.all_current
lineages_of_array: Final = _decoder.lineages_of_array
from_stored: Final = _decoder.from_stored
