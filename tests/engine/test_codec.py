"""The codec: MessagePack and JSON round trips of every payload type, the JSON Schema,
the eventsourcing StoredEvent mapping, and errors that say what was wrong."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import msgspec
import pytest
from eventsourcing.persistence import StoredEvent

from engine import codec
from engine.codec import (
    UndecodableEventError,
    UnknownEventTypeError,
)
from engine.events import TOPIC_TYPES, Envelope, Event, OrderPlaced, StreamEvent, topic_of
from tests.engine.test_events import EXAMPLES, envelope_of, ids


def tampered(envelope: Envelope, **changes: Any) -> bytes:
    """The stored bytes of `envelope` with fields changed; in `data`, a value of `...` removes."""
    fields = msgspec.msgpack.decode(codec.encode(envelope))
    data_changes = changes.pop("data", {})
    fields.update(changes)
    fields["data"].update(data_changes)
    for name in [name for name, value in fields["data"].items() if value is ...]:
        del fields["data"][name]
    return msgspec.msgpack.encode(fields)


@pytest.mark.parametrize("payload", EXAMPLES, ids=ids)
def test_msgpack_round_trip(payload: Event) -> None:
    envelope = envelope_of(payload)
    decoded = codec.decode(codec.encode(envelope))
    assert decoded == envelope
    assert type(decoded.data) is type(payload)


@pytest.mark.parametrize("payload", EXAMPLES, ids=ids)
def test_json_round_trip(payload: Event) -> None:
    envelope = envelope_of(payload)
    decoded = msgspec.json.decode(codec.to_json(envelope), type=Envelope)
    assert decoded == envelope
    assert type(decoded.data) is type(payload)


def test_json_is_for_people_ids_as_text_time_in_rfc3339() -> None:
    envelope = envelope_of(EXAMPLES[0])
    text = codec.to_json(envelope)
    assert b"\n" not in text
    fields = json.loads(text)
    assert fields["event_id"] == str(envelope.event_id)
    assert fields["correlation_id"] == str(envelope.correlation_id)
    assert fields["timestamp"] == "2025-01-29T12:30:05.123456Z"
    assert fields["data"]["type"] == "OrderPlaced"
    assert fields["data"]["lines"][0] == {"sku": "SKU-1", "quantity": 2, "unit_price_cents": 1999}


def test_msgpack_keeps_uuids_as_16_raw_bytes() -> None:
    envelope = envelope_of(EXAMPLES[0])
    fields = msgspec.msgpack.decode(codec.encode(envelope))
    assert fields["event_id"] == envelope.event_id.bytes
    assert fields["causation_id"] == envelope.causation_id.bytes


def stream_part(envelope: Envelope) -> StreamEvent:
    return StreamEvent(
        stream_id=envelope.stream_id,
        version=envelope.version,
        timestamp=envelope.timestamp,
        schema_version=envelope.schema_version,
        data=envelope.data,
    )


def test_decode_for_replay_reads_the_stream_events_in_order() -> None:
    envelopes = [envelope_of(payload, version) for version, payload in enumerate(EXAMPLES, 1)]
    replayed = codec.decode_for_replay(codec.encode(e) for e in envelopes)
    assert [type(event) for event in replayed] == [StreamEvent] * len(envelopes)
    assert replayed == [stream_part(e) for e in envelopes]


def test_decode_for_replay_refuses_what_decode_refuses() -> None:
    good = codec.encode(envelope_of(EXAMPLES[0]))
    unknown = tampered(envelope_of(EXAMPLES[0], 9), data={"type": "OrderTeleported"})
    with pytest.raises(UndecodableEventError, match="not an event envelope"):
        codec.decode_for_replay([good, b"\xc1"])
    with pytest.raises(UnknownEventTypeError, match="event 9 of stream 'order-o-1'"):
        codec.decode_for_replay([good, unknown])


def test_an_envelope_is_a_stream_event() -> None:
    assert isinstance(envelope_of(EXAMPLES[0]), StreamEvent)


def test_json_schema_covers_every_payload_type() -> None:
    schema = codec.json_schema()
    every_name = {cls.__name__ for types in TOPIC_TYPES.values() for cls in types}
    assert schema["$ref"] == "#/$defs/Envelope"
    data = schema["$defs"]["Envelope"]["properties"]["data"]
    assert data["discriminator"]["propertyName"] == "type"
    assert data["discriminator"]["mapping"] == {name: f"#/$defs/{name}" for name in every_name}
    for name in every_name:
        assert schema["$defs"][name]["properties"]["type"] == {"enum": [name]}


def test_json_schema_carries_constraints_and_descriptions() -> None:
    defs = codec.json_schema()["$defs"]
    line = defs["OrderLine"]["properties"]
    assert line["quantity"] == {"type": "integer", "exclusiveMinimum": 0}
    assert line["unit_price_cents"] == {"type": "integer", "minimum": 0}
    assert "net-N" in defs["OrderPlaced"]["properties"]["payment_terms"]["description"]
    assert defs["Envelope"]["properties"]["event_id"] == {"type": "string", "format": "uuid"}


def test_json_schema_is_json() -> None:
    schema = codec.json_schema()
    assert json.loads(json.dumps(schema)) == schema
    assert schema["$schema"].endswith("/2020-12/schema")


@pytest.mark.parametrize("payload", EXAMPLES, ids=ids)
def test_stored_event_round_trip(payload: Event) -> None:
    envelope = envelope_of(payload, version=7)
    stored = codec.to_stored(envelope)
    assert stored.originator_id == envelope.stream_id
    assert stored.originator_version == 7
    assert stored.topic == f"{topic_of(payload)}:{type(payload).__name__}"
    assert stored.state == codec.encode(envelope)
    assert codec.from_stored(stored) == envelope


def test_a_batch_of_stored_events_is_each_envelopes_stored_event_in_order() -> None:
    envelopes = [envelope_of(payload, version) for version, payload in enumerate(EXAMPLES, 1)]
    columns = codec.to_stored_columns(envelopes)
    assert list(columns) == [codec.to_stored(e) for e in envelopes]
    assert columns.ids == [e.stream_id for e in envelopes]
    assert columns.versions == list(range(1, len(EXAMPLES) + 1))
    assert columns.states == [codec.encode(e) for e in envelopes]
    assert len(codec.to_stored_columns([])) == 0


def test_from_stored_refuses_a_record_holding_another_events_state() -> None:
    first, second = envelope_of(EXAMPLES[0], 1), envelope_of(EXAMPLES[1], 2)
    record = codec.to_stored(first)
    swapped = StoredEvent(record.originator_id, 2, record.topic, codec.encode(second))
    with pytest.raises(
        UndecodableEventError,
        match=r"stored event 2 of 'order-o-1' \(orders:OrderPlaced\) holds the bytes of event 2 "
        r"of stream 'order-o-1' \(orders:OrderStockReserved\)",
    ):
        codec.from_stored(swapped)


@pytest.mark.parametrize(
    ("field", "value"),
    [("originator_id", "order-o-9"), ("originator_version", 4), ("topic", "credit:OrderPlaced")],
)
def test_from_stored_checks_each_record_field(field: str, value: object) -> None:
    record = codec.to_stored(envelope_of(EXAMPLES[0], 3))
    fields = {
        "originator_id": record.originator_id,
        "originator_version": record.originator_version,
        "topic": record.topic,
        "state": record.state,
    }
    fields[field] = value
    with pytest.raises(UndecodableEventError, match="holds the bytes of event 3"):
        codec.from_stored(StoredEvent(**fields))  # type: ignore[arg-type]


def test_from_stored_names_the_record_when_its_state_is_unreadable() -> None:
    record = StoredEvent("sku-S@W", 5, "stock:StockReceived", b"\xc1 not msgpack")
    with pytest.raises(
        UndecodableEventError,
        match=r"stored event 5 of 'sku-S@W' \(stock:StockReceived\): not an event envelope",
    ):
        codec.from_stored(record)


@pytest.mark.parametrize(
    "data", [b"", b"\xc1", b"\x93\x01\x02\x03", b"plain text", json.dumps({"a": 1}).encode()]
)
def test_bytes_that_are_no_envelope(data: bytes) -> None:
    with pytest.raises(UndecodableEventError, match=r"not an event envelope: .+ not written by"):
        codec.decode(data)


def test_an_unknown_payload_type_is_named_with_its_stream() -> None:
    bytes_ = tampered(envelope_of(EXAMPLES[0], 4), data={"type": "OrderTeleported"})
    with pytest.raises(
        UnknownEventTypeError,
        match=r"event 4 of stream 'order-o-1': unknown payload type 'OrderTeleported' "
        r"\(schema version 1\); it was written by a newer stockledger",
    ):
        codec.decode(bytes_)


def test_a_payload_without_a_type_tag() -> None:
    bytes_ = tampered(envelope_of(EXAMPLES[0]), data={"type": ...})
    with pytest.raises(UnknownEventTypeError, match="unknown payload type None"):
        codec.decode(bytes_)


def test_a_payload_that_does_not_fit_its_current_shape_says_what_and_what_to_do() -> None:
    bytes_ = tampered(envelope_of(EXAMPLES[0], 2), data={"customer_id": ...})
    with pytest.raises(UndecodableEventError) as raised:
        codec.decode(bytes_)
    message = str(raised.value)
    assert message.startswith("event 2 of stream 'order-o-1': OrderPlaced stored at schema")
    assert "missing required field `customer_id`" in message
    assert "bump its entry in engine.events.SCHEMA_VERSIONS" in message


def test_a_broken_constraint_is_named_by_its_path() -> None:
    placed = EXAMPLES[0]
    assert isinstance(placed, OrderPlaced)
    lines = [msgspec.to_builtins(line) for line in placed.lines]
    lines[1]["quantity"] = 0
    bytes_ = tampered(envelope_of(placed), data={"lines": lines})
    with pytest.raises(
        UndecodableEventError, match=r"Expected `int` >= 1 - at `\$.lines\[1\].quantity`"
    ):
        codec.decode(bytes_)


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"version": 0}, r"\$.version"),
        ({"event_id": b"short"}, r"\$.event_id"),
        ({"stream_id": None}, r"\$.stream_id"),
    ],
)
def test_a_broken_envelope_field_is_named_by_its_path(changes: dict[str, Any], path: str) -> None:
    bytes_ = tampered(envelope_of(EXAMPLES[0]), **changes)
    with pytest.raises(UndecodableEventError, match=f"not an event envelope: .+ - at `{path}`"):
        codec.decode(bytes_)


def test_a_timestamp_without_timezone_is_refused() -> None:
    envelope = envelope_of(EXAMPLES[0])
    bytes_ = tampered(envelope, timestamp="2025-01-29T12:30:05")
    with pytest.raises(UndecodableEventError, match="timezone"):
        codec.decode(bytes_)


def test_decode_accepts_uuids_in_text_form() -> None:
    envelope = envelope_of(EXAMPLES[0])
    bytes_ = tampered(envelope, event_id=str(envelope.event_id))
    assert codec.decode(bytes_).event_id == envelope.event_id
    assert isinstance(codec.decode(bytes_).event_id, UUID)
