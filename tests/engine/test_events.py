"""The event model: every payload type, its topic, its tag, its immutability, the envelope."""

from __future__ import annotations

import dataclasses
import typing
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import msgspec
import pytest

from engine.events import (
    SCHEMA_VERSIONS,
    TOPIC_TYPES,
    TOPICS,
    ClockAdvanced,
    CommandReason,
    CommandRejected,
    CreditApproved,
    CreditCommandRejected,
    CreditEvent,
    CreditHeld,
    CreditLimitSet,
    CreditNoteIssued,
    CreditRejected,
    CreditRejectionReason,
    CreditReleased,
    CreditReviewDecided,
    Disposition,
    Envelope,
    Event,
    HoldReason,
    InvoiceIssued,
    InvoiceOverdue,
    LineQuantity,
    LinesReturned,
    LinesShipped,
    OrderCancelled,
    OrderCommandRejected,
    OrderConfirmed,
    OrderCreditHeld,
    OrderDelivered,
    OrderEvent,
    OrderExpired,
    OrderHold,
    OrderLine,
    OrderPlaced,
    OrderRejected,
    OrderRejectionReason,
    OrderStockReserved,
    PaymentCaptured,
    PaymentRecorded,
    ReturnedLine,
    ShipTo,
    StockEvent,
    customer_stream_id,
    new_envelope,
    order_stream_id,
    topic_of,
)
from engine.stock import events as stock

SHIP_TO = ShipTo(
    name="Ada Byron", street="1 Analytical Row", city="London", postal_code="N1", country="GB"
)

# One example of every payload type; `test_every_payload_type_has_an_example`
# keeps it complete, so tests that loop over it cover every type.
EXAMPLES: tuple[Event, ...] = (
    OrderPlaced(
        order_id="o-1",
        customer_id="c-7",
        channel="web",
        campaign="spring-sale",
        payment_terms="net-30",
        ship_to=SHIP_TO,
        lines=(OrderLine("SKU-1", 2, 1999), OrderLine("SKU-2", 1, 0), OrderLine("SKU-3", 5, 250)),
    ),
    OrderStockReserved(
        order_id="o-1",
        holds=(OrderHold("SKU-1", "WH-A", 11, 2), OrderHold("SKU-1", "WH-B", 12, 1)),
        expires_at=900,
    ),
    OrderRejected(
        order_id="o-2", reason=OrderRejectionReason.INSUFFICIENT_STOCK, detail="SKU-9: 0 of 3"
    ),
    OrderConfirmed(order_id="o-1", total_cents=5248),
    OrderCancelled(order_id="o-1", reason="customer request"),
    OrderExpired(order_id="o-3"),
    LinesShipped(
        order_id="o-1", shipment_id="sh-1", location="WH-A", lines=(LineQuantity("SKU-1", 2),)
    ),
    OrderDelivered(order_id="o-1", shipment_id="sh-1"),
    LinesReturned(
        order_id="o-1",
        return_id="r-1",
        lines=(
            ReturnedLine("SKU-1", 1, Disposition.RESTOCK),
            ReturnedLine("SKU-1", 1, Disposition.WRITE_OFF),
        ),
    ),
    OrderCommandRejected(
        order_id="o-1",
        command_id="cmd-9",
        command="cancel_order",
        reason=CommandReason.INVALID_STATE,
        detail="o-1 has shipped lines; cancel is only allowed before shipment",
    ),
    stock.SlotConfigured(
        sku="SKU-1", location="WH-A", priority=1, safety_stock=2, backorder_limit=0
    ),
    stock.StockReceived(sku="SKU-1", location="WH-A", quantity=10, reference="po-1", on_hand=10),
    stock.StockAdjusted(
        sku="SKU-1", location="WH-A", delta=-1, reason="damaged", reference="adj-1", on_hand=9
    ),
    stock.StockReserved(
        sku="SKU-1",
        location="WH-A",
        hold_id=11,
        order_id="o-1",
        quantity=2,
        expires_at=900,
        reserved=2,
    ),
    stock.HoldConfirmed(sku="SKU-1", location="WH-A", hold_id=11, quantity=2),
    stock.HoldReleased(
        sku="SKU-1", location="WH-A", hold_id=11, quantity=1, remaining=1, reserved=1
    ),
    stock.HoldExpired(sku="SKU-1", location="WH-A", hold_id=12, quantity=1, reserved=1),
    stock.StockShipped(
        sku="SKU-1", location="WH-A", hold_id=11, quantity=1, remaining=0, on_hand=8, reserved=0
    ),
    stock.StockRestocked(sku="SKU-1", location="WH-A", quantity=1, reference="r-1", on_hand=9),
    stock.StockRejected(
        operation="reserve",
        reason=stock.Reason.INSUFFICIENT_STOCK,
        detail="SKU-9@WH-A: 0 available, 3 asked",
        reference="o-2",
        sku="SKU-9",
        location="WH-A",
    ),
    CreditLimitSet(customer_id="c-7", limit_cents=500_000, payment_terms="net-30"),
    CreditApproved(customer_id="c-7", order_id="o-1", amount_cents=5248, exposure_cents=15248),
    CreditHeld(
        customer_id="c-7",
        order_id="o-4",
        amount_cents=90_000,
        exposure_cents=420_000,
        reason=HoldReason.TOLERANCE_BAND,
    ),
    CreditRejected(
        customer_id="c-7",
        order_id="o-5",
        amount_cents=900_000,
        exposure_cents=420_000,
        limit_cents=500_000,
        reason=CreditRejectionReason.OVER_LIMIT,
    ),
    InvoiceIssued(
        customer_id="c-7",
        invoice_id="inv-1",
        order_id="o-1",
        amount_cents=5248,
        due_at=86_400 * 30,
    ),
    PaymentRecorded(customer_id="c-7", payment_id="pay-1", amount_cents=5248, invoice_id="inv-1"),
    OrderCreditHeld(order_id="o-4", reason=HoldReason.AWAITING_PAYMENT),
    PaymentCaptured(order_id="o-4", payment_id="psp-9", amount_cents=90_000),
    ClockAdvanced(now=3_600),
    CreditReviewDecided(
        customer_id="c-7",
        order_id="o-4",
        approved=True,
        decided_by="analyst-2",
        why="long-standing customer",
        amount_cents=90_000,
        exposure_cents=420_000,
    ),
    CreditReleased(customer_id="c-7", order_id="o-1", amount_cents=5248),
    InvoiceOverdue(customer_id="c-7", invoice_id="inv-1", outstanding_cents=5248, due_at=86_400),
    CreditNoteIssued(customer_id="c-7", order_id="o-1", return_id="r-1", amount_cents=1999),
    CreditCommandRejected(
        customer_id="c-8",
        command_id="cmd-10",
        command="record_payment",
        reason=CommandReason.UNKNOWN_CUSTOMER,
        detail="no credit account c-8",
    ),
)

AT = datetime(2025, 1, 29, 12, 30, 5, 123456, tzinfo=UTC)


def stream_of(payload: Event) -> str:
    topic = topic_of(payload)
    if topic == "stock":
        return stock.stream_id(payload.sku, payload.location)  # type: ignore[union-attr]
    if isinstance(payload, ClockAdvanced):
        return "clock"
    if topic == "orders":
        return order_stream_id(payload.order_id)  # type: ignore[union-attr]
    return customer_stream_id(payload.customer_id)  # type: ignore[union-attr]


def envelope_of(payload: Event, version: int = 3) -> Envelope:
    command = uuid4()
    return new_envelope(
        payload,
        stream_id=stream_of(payload),
        version=version,
        timestamp=AT,
        correlation_id=command,
        causation_id=command,
    )


def ids(payload: Event) -> str:
    return type(payload).__name__


def test_every_payload_type_has_an_example() -> None:
    every_type = {cls for types in TOPIC_TYPES.values() for cls in types}
    assert {type(p) for p in EXAMPLES} == every_type
    assert len(EXAMPLES) == len(every_type)


def test_topics_are_the_three_event_topics_with_their_unions() -> None:
    assert TOPICS == ("orders", "stock", "credit")
    assert TOPIC_TYPES["orders"] == typing.get_args(OrderEvent)
    assert TOPIC_TYPES["stock"] == typing.get_args(StockEvent)
    assert TOPIC_TYPES["credit"] == typing.get_args(CreditEvent)
    assert set(typing.get_args(Event)) == {c for types in TOPIC_TYPES.values() for c in types}


@pytest.mark.parametrize("payload", EXAMPLES, ids=ids)
def test_topic_of_names_the_topic_whose_union_holds_the_type(payload: Event) -> None:
    topic = topic_of(payload)
    assert type(payload) in TOPIC_TYPES[topic]


def test_topic_of_each_topic() -> None:
    by_type = {type(p): p for p in EXAMPLES}
    assert topic_of(by_type[OrderPlaced]) == "orders"
    assert topic_of(by_type[stock.HoldExpired]) == "stock"
    assert topic_of(by_type[PaymentRecorded]) == "credit"


def test_topic_of_rejects_what_is_not_a_payload() -> None:
    with pytest.raises(TypeError, match=r"OrderLine is not an event payload of any topic"):
        topic_of(OrderLine("SKU-1", 1, 1))  # type: ignore[arg-type]


@pytest.mark.parametrize("payload", EXAMPLES, ids=ids)
def test_the_tag_is_the_class_name(payload: Event) -> None:
    fields = msgspec.msgpack.decode(msgspec.msgpack.encode(payload))
    assert fields["type"] == type(payload).__name__


@pytest.mark.parametrize("payload", EXAMPLES, ids=ids)
def test_the_topic_union_dispatches_on_the_tag(payload: Event) -> None:
    union = {"orders": OrderEvent, "stock": StockEvent, "credit": CreditEvent}[topic_of(payload)]
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(payload), type=union)
    assert type(decoded) is type(payload)
    assert decoded == payload


def test_a_topic_union_refuses_another_topics_payload() -> None:
    placed = msgspec.msgpack.encode(EXAMPLES[0])
    with pytest.raises(msgspec.ValidationError, match="Invalid value 'OrderPlaced'"):
        msgspec.msgpack.decode(placed, type=StockEvent)


@pytest.mark.parametrize("payload", EXAMPLES, ids=ids)
def test_payloads_are_frozen_and_hashable(payload: Event) -> None:
    name = msgspec.structs.fields(payload)[0].name
    with pytest.raises(AttributeError):
        setattr(payload, name, None)
    assert hash(payload) == hash(msgspec.structs.replace(payload))


def test_nested_values_are_frozen_too() -> None:
    placed = EXAMPLES[0]
    assert isinstance(placed, OrderPlaced)
    assert isinstance(placed.lines, tuple)
    with pytest.raises(AttributeError):
        placed.lines[0].quantity = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        placed.ship_to.city = "Paris"  # type: ignore[misc]


def test_command_rejected_matches_the_rejection_of_either_topic() -> None:
    rejections = [p for p in EXAMPLES if isinstance(p, CommandRejected)]
    assert [type(p) for p in rejections] == [OrderCommandRejected, CreditCommandRejected]
    assert [topic_of(p) for p in rejections] == ["orders", "credit"]


def test_every_payload_type_has_a_schema_version() -> None:
    assert set(SCHEMA_VERSIONS) == {type(p) for p in EXAMPLES}
    assert all(version >= 1 for version in SCHEMA_VERSIONS.values())


def test_stream_ids() -> None:
    assert order_stream_id("42") == "order-42"
    assert customer_stream_id("c-7") == "customer-c-7"


def test_new_envelope_fills_identity_position_and_schema_version() -> None:
    payload = EXAMPLES[0]
    correlation, causation = uuid4(), uuid4()
    envelope = new_envelope(
        payload,
        stream_id="order-o-1",
        version=1,
        timestamp=AT,
        correlation_id=correlation,
        causation_id=causation,
    )
    assert isinstance(envelope.event_id, UUID)
    assert envelope.event_id.version == 4
    assert (envelope.stream_id, envelope.version, envelope.timestamp) == ("order-o-1", 1, AT)
    assert (envelope.correlation_id, envelope.causation_id) == (correlation, causation)
    assert envelope.schema_version == SCHEMA_VERSIONS[OrderPlaced]
    assert envelope.data is payload


def test_new_envelope_gives_every_event_its_own_id_unless_one_is_given() -> None:
    assert len({envelope_of(EXAMPLES[0]).event_id for _ in range(1000)}) == 1000
    given = uuid4()
    envelope = new_envelope(
        EXAMPLES[0],
        stream_id="order-o-1",
        version=1,
        timestamp=AT,
        correlation_id=given,
        causation_id=given,
        event_id=given,
    )
    assert envelope.event_id == given


def test_new_envelope_stores_the_time_in_utc() -> None:
    local = AT.astimezone(timezone(timedelta(hours=-5)))
    envelope = new_envelope(
        EXAMPLES[0],
        stream_id="order-o-1",
        version=1,
        timestamp=local,
        correlation_id=uuid4(),
        causation_id=uuid4(),
    )
    assert envelope.timestamp == AT
    assert envelope.timestamp.utcoffset() == timedelta(0)


def test_new_envelope_refuses_a_time_without_a_timezone() -> None:
    with pytest.raises(ValueError, match=r"2025-01-29T12:30:05\.123456 has no timezone"):
        new_envelope(
            EXAMPLES[0],
            stream_id="order-o-1",
            version=1,
            timestamp=AT.replace(tzinfo=None),
            correlation_id=uuid4(),
            causation_id=uuid4(),
        )


def test_new_envelope_refuses_a_version_below_one() -> None:
    with pytest.raises(ValueError, match="version 0 of stream 'order-o-1': stream versions start"):
        new_envelope(
            EXAMPLES[0],
            stream_id="order-o-1",
            version=0,
            timestamp=AT,
            correlation_id=uuid4(),
            causation_id=uuid4(),
        )


def test_new_envelope_refuses_what_is_not_a_payload() -> None:
    @dataclasses.dataclass
    class NotAnEvent:
        order_id: str

    with pytest.raises(TypeError, match="NotAnEvent is not an event payload"):
        new_envelope(
            NotAnEvent("o-1"),  # type: ignore[arg-type]
            stream_id="order-o-1",
            version=1,
            timestamp=AT,
            correlation_id=uuid4(),
            causation_id=uuid4(),
        )


def test_envelopes_are_frozen() -> None:
    envelope = envelope_of(EXAMPLES[0])
    with pytest.raises(AttributeError):
        envelope.version = 2  # type: ignore[misc]
