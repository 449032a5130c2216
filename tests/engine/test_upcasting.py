"""Upcasting on read: events stored at old schema versions come back in the current shape.

The shipped schema has every payload at version 1, so these tests read under a
schema of their own where OrderPlaced is at version 3, with the history:

- v1 called the channel `sales_channel`, and each line carried its total
  `price_cents` instead of a unit price;
- v2 renamed `sales_channel` to `channel`;
- v3 (the current shape) carries `unit_price_cents` per line.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest

from engine import codec, upcasting
from engine.codec import (
    Decoder,
    FutureSchemaVersionError,
    MissingUpcasterError,
    UndecodableEventError,
)
from engine.events import SCHEMA_VERSIONS, OrderLine, OrderPlaced, ShipTo, StreamEvent
from engine.upcasting import UPCASTERS, Upcaster
from tests.engine.test_events import AT, SHIP_TO, envelope_of


def rename_sales_channel(fields: dict[str, Any]) -> dict[str, Any]:
    fields["channel"] = fields.pop("sales_channel")
    return fields


def unit_prices(fields: dict[str, Any]) -> dict[str, Any]:
    fields["lines"] = [
        {"sku": line["sku"], "quantity": line["quantity"], "unit_price_cents": price}
        for line in fields["lines"]
        for price in [line["price_cents"] // line["quantity"]]
    ]
    return fields


HISTORY: dict[tuple[str, int], Upcaster] = {
    ("OrderPlaced", 1): rename_sales_channel,
    ("OrderPlaced", 2): unit_prices,
}
VERSIONS = {**SCHEMA_VERSIONS, OrderPlaced: 3}


class LineV1(msgspec.Struct):
    sku: str
    quantity: int
    price_cents: int


class OrderPlacedV1(msgspec.Struct, tag="OrderPlaced", kw_only=True):
    order_id: str
    customer_id: str
    sales_channel: str
    campaign: str | None
    payment_terms: str
    ship_to: ShipTo
    lines: list[LineV1]


class OrderPlacedV2(msgspec.Struct, tag="OrderPlaced", kw_only=True):
    order_id: str
    customer_id: str
    channel: str
    campaign: str | None
    payment_terms: str
    ship_to: ShipTo
    lines: list[LineV1]


class OldEnvelope(msgspec.Struct, kw_only=True):
    """An envelope as an earlier stockledger wrote it, around an old payload shape."""

    event_id: UUID
    stream_id: str
    version: int
    timestamp: Any
    correlation_id: UUID
    causation_id: UUID
    schema_version: int
    data: Any


def stored_at(schema_version: int, data: msgspec.Struct, version: int = 1) -> bytes:
    command = uuid4()
    old = OldEnvelope(
        event_id=uuid4(),
        stream_id="order-o-1",
        version=version,
        timestamp=AT,
        correlation_id=command,
        causation_id=command,
        schema_version=schema_version,
        data=data,
    )
    return msgspec.msgpack.Encoder(uuid_format="bytes").encode(old)


V1_LINES = [LineV1("SKU-1", 2, 3998), LineV1("SKU-3", 5, 1250)]
V1 = OrderPlacedV1(
    order_id="o-1",
    customer_id="c-7",
    sales_channel="telesales",
    campaign=None,
    payment_terms="net-30",
    ship_to=SHIP_TO,
    lines=V1_LINES,
)
V2 = OrderPlacedV2(
    order_id="o-1",
    customer_id="c-7",
    channel="telesales",
    campaign=None,
    payment_terms="net-30",
    ship_to=SHIP_TO,
    lines=V1_LINES,
)
CURRENT = OrderPlaced(
    order_id="o-1",
    customer_id="c-7",
    channel="telesales",
    campaign=None,
    payment_terms="net-30",
    ship_to=SHIP_TO,
    lines=(OrderLine("SKU-1", 2, 1999), OrderLine("SKU-3", 5, 250)),
)


def test_the_shipped_schema_has_every_upcaster_it_needs() -> None:
    Decoder(SCHEMA_VERSIONS, UPCASTERS)


@pytest.mark.parametrize(("schema_version", "old"), [(1, V1), (2, V2)])
def test_an_old_shape_is_read_back_in_the_current_one(
    schema_version: int, old: msgspec.Struct
) -> None:
    stored = stored_at(schema_version, old, version=4)
    envelope = Decoder(VERSIONS, HISTORY).decode(stored)
    assert envelope.data == CURRENT
    assert envelope.schema_version == 3
    raw = msgspec.msgpack.decode(stored)
    assert envelope.event_id == UUID(bytes=raw["event_id"])
    assert (envelope.stream_id, envelope.version, envelope.timestamp) == ("order-o-1", 4, AT)
    assert envelope.correlation_id == UUID(bytes=raw["correlation_id"])


def test_the_stored_bytes_stay_as_they_were() -> None:
    stored = stored_at(1, V1)
    Decoder(VERSIONS, HISTORY).decode(stored)
    assert msgspec.msgpack.decode(stored)["data"]["sales_channel"] == "telesales"
    assert msgspec.msgpack.decode(stored)["schema_version"] == 1


def test_the_current_version_is_never_upcast() -> None:
    def refuse(fields: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("an event at the current version went through an upcaster")

    decoder = Decoder(VERSIONS, {("OrderPlaced", 1): refuse, ("OrderPlaced", 2): refuse})
    envelope = msgspec.structs.replace(envelope_of(CURRENT), schema_version=3)
    assert decoder.decode(codec.encode(envelope)) == envelope


def test_the_version_decides_not_the_shape() -> None:
    # v1 counted quantities in dozens; v2 in units: same shape, other meaning.
    def dozens_to_units(fields: dict[str, Any]) -> dict[str, Any]:
        for line in fields["lines"]:
            line["quantity"] *= 12
        return fields

    decoder = Decoder({**SCHEMA_VERSIONS, OrderPlaced: 2}, {("OrderPlaced", 1): dozens_to_units})
    v1 = envelope_of(CURRENT)
    assert v1.schema_version == 1
    for decoded in [
        decoder.decode(codec.encode(v1)),
        *decoder.decode_for_replay([codec.encode(v1)]),
    ]:
        assert isinstance(decoded.data, OrderPlaced)
        assert [line.quantity for line in decoded.data.lines] == [24, 60]
        assert decoded.schema_version == 2


def test_decode_for_replay_and_from_stored_upcast_too() -> None:
    decoder = Decoder(VERSIONS, HISTORY)
    current = msgspec.structs.replace(envelope_of(CURRENT, 2), schema_version=3)
    stored = [stored_at(1, V1), codec.encode(current), stored_at(2, V2)]
    replayed = decoder.decode_for_replay(stored)
    assert [type(event) for event in replayed] == [StreamEvent] * 3
    assert [(event.data, event.schema_version) for event in replayed] == [(CURRENT, 3)] * 3
    record = codec.to_stored(current)
    old_record = dataclasses.replace(record, originator_version=1, state=stored_at(1, V1))
    assert decoder.from_stored(old_record).data == CURRENT


def test_a_whole_commit_array_upcasts_its_old_items() -> None:
    decoder = Decoder(VERSIONS, HISTORY)
    current = msgspec.structs.replace(envelope_of(CURRENT, 2), schema_version=3)
    items = [stored_at(1, V1), codec.encode(current), stored_at(2, V2)]
    array = msgspec.msgpack.encode([msgspec.Raw(item) for item in items])
    assert decoder.payloads_of_array(array) == [CURRENT] * 3
    current_only = msgspec.msgpack.encode([msgspec.Raw(codec.encode(current))] * 2)
    assert decoder.payloads_of_array(current_only) == [CURRENT] * 2


def test_a_missing_upcaster_stops_the_decoder_from_starting() -> None:
    with pytest.raises(
        MissingUpcasterError,
        match=r"no upcaster for OrderPlaced from version 2; register each with "
        r"@engine.upcasting.upcaster\(type_name, from_version\)",
    ):
        Decoder(VERSIONS, {("OrderPlaced", 1): rename_sales_channel})


def test_an_upcaster_past_the_current_version_stops_the_decoder_from_starting() -> None:
    with pytest.raises(
        ValueError,
        match=r"upcasters past the current schema version: OrderPlaced from version 3 "
        r"\(current: 3\), Teleported from version 1 \(current: no such type\); bump",
    ):
        Decoder(
            VERSIONS,
            {**HISTORY, ("OrderPlaced", 3): unit_prices, ("Teleported", 1): unit_prices},
        )


def test_a_schema_without_every_type_is_refused() -> None:
    versions = {cls: v for cls, v in SCHEMA_VERSIONS.items() if cls is not OrderPlaced}
    with pytest.raises(ValueError, match="no schema version for OrderPlaced"):
        Decoder(versions, UPCASTERS)


def test_a_version_newer_than_the_reader_is_named() -> None:
    envelope = msgspec.structs.replace(envelope_of(CURRENT, 6), schema_version=4)
    with pytest.raises(
        FutureSchemaVersionError,
        match=r"event 6 of stream 'order-o-1': OrderPlaced is at schema version 4, this "
        r"reader knows up to 3; read it with the stockledger that wrote it",
    ):
        Decoder(VERSIONS, HISTORY).decode(codec.encode(envelope))


def test_an_upcaster_that_misses_the_current_shape_is_named() -> None:
    decoder = Decoder(VERSIONS, {**HISTORY, ("OrderPlaced", 2): lambda fields: fields})
    with pytest.raises(
        UndecodableEventError,
        match=r"OrderPlaced upcast from schema version 1 to 3 does not fit its current "
        r"definition \(Object missing required field `unit_price_cents` - at "
        r"`\$.lines\[0\]`\); fix its upcasters",
    ):
        decoder.decode(stored_at(1, V1))


def test_a_failing_upcaster_is_named_with_the_event() -> None:
    def rename_missing_field(fields: dict[str, Any]) -> dict[str, Any]:
        fields["channel"] = fields.pop("channel_name")
        return fields

    decoder = Decoder(VERSIONS, {**HISTORY, ("OrderPlaced", 1): rename_missing_field})
    with pytest.raises(
        UndecodableEventError,
        match=r"event 4 of stream 'order-o-1': the upcaster of OrderPlaced from schema "
        r"version 1 failed \(KeyError\('channel_name'\)\); fix it in engine.upcasting",
    ):
        decoder.decode(stored_at(1, V1, version=4))


def test_the_old_shape_without_upcasters_is_not_read_as_current() -> None:
    with pytest.raises(UndecodableEventError, match="bump its entry"):
        codec.decode(stored_at(1, V1))


def test_upcaster_registers_once_per_type_and_version(monkeypatch: pytest.MonkeyPatch) -> None:
    registry: dict[tuple[str, int], Upcaster] = {}
    monkeypatch.setattr(upcasting, "_registry", registry)

    registered = upcasting.upcaster("OrderPlaced", 1)(rename_sales_channel)

    assert registered is rename_sales_channel
    assert registry == {("OrderPlaced", 1): rename_sales_channel}
    with pytest.raises(
        ValueError, match="OrderPlaced already has an upcaster from schema version 1"
    ):
        upcasting.upcaster("OrderPlaced", 1)(unit_prices)


def test_a_commit_array_is_current_only_when_every_item_is_at_its_types_version() -> None:
    shaped = Decoder(VERSIONS, HISTORY)
    single = Decoder(SCHEMA_VERSIONS, UPCASTERS)
    current = msgspec.structs.replace(envelope_of(CURRENT, 2), schema_version=3)
    # Every type at one version: the versions present decide.
    assert single.all_current([envelope_of(CURRENT, 1)] * 2)
    assert not single.all_current([envelope_of(CURRENT, 1), current])
    # Types at different versions: each (type, version) pair is looked up.
    assert shaped.all_current([current, current])
    assert not shaped.all_current([current, envelope_of(CURRENT, 1)])
    future = msgspec.msgpack.encode([msgspec.Raw(codec.encode(current))])
    with pytest.raises(FutureSchemaVersionError):
        single.payloads_of_array(future)
