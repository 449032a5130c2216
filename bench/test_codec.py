"""Event codec: encode and decode throughput of a stock event and a three-line order,
one at a time and in batches, side by side with eventsourcing's default path.

Peers:
- `stockledger`: `engine.codec.encode` / `decode`, full envelopes;
- `stockledger-replay` (decode only): `decode_for_replay`, stream events without
  their ids, what a replay folds into state;
- `stockledger-stored`: the same through `to_stored` / `from_stored` (StoredEvent);
- `eventsourcing`: the same information as frozen dataclass events through
  eventsourcing's `Mapper` with its `JSONTranscoder` (UUIDs and datetimes
  registered), to and from `StoredEvent`. Its order lines are plain dicts, so
  it decodes less structure than stockledger does.

    python -m pytest bench/test_codec.py --benchmark-only
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    UUIDAsHex,
)
from pytest_benchmark.fixture import BenchmarkFixture

from bench.conftest import Record, per_second
from engine import codec
from engine.events import (
    Envelope,
    OrderLine,
    OrderPlaced,
    ShipTo,
    StreamEvent,
    new_envelope,
    order_stream_id,
)
from engine.stock.events import StockReserved, stream_id

BATCH_SIZE = 10_000
# A single call is timed over this many repetitions per round, so the timer's
# own cost (a sizeable share of a sub-microsecond call) is spread thin.
SINGLE_ITERATIONS = 1_000
SINGLE_ROUNDS = 100
START = datetime(2025, 1, 29, 8, 0, tzinfo=UTC)


def stock_envelopes(count: int) -> list[Envelope]:
    """Reservations spread over 500 SKUs at two locations, as a busy day writes them."""
    envelopes = []
    for i in range(count):
        sku, location = f"SKU-{i % 500:06d}", f"WH-{i % 2:02d}"
        command = uuid4()
        payload = StockReserved(
            sku=sku,
            location=location,
            hold_id=1_000_000 + i,
            order_id=f"ord-{i:010d}",
            quantity=1 + i % 7,
            expires_at=86_400 + i,
            reserved=10 + i % 90,
        )
        envelopes.append(
            new_envelope(
                payload,
                stream_id=stream_id(sku, location),
                version=1 + i // 1000,
                timestamp=START + timedelta(microseconds=i * 250),
                correlation_id=command,
                causation_id=command,
            )
        )
    return envelopes


def order_envelopes(count: int) -> list[Envelope]:
    """Orders of three lines each, on two channels."""
    envelopes = []
    for i in range(count):
        order_id = f"ord-{i:010d}"
        command = uuid4()
        payload = OrderPlaced(
            order_id=order_id,
            customer_id=f"cust-{i % 20_000:07d}",
            channel=("web", "app")[i % 2],
            campaign="spring-sale" if i % 3 == 0 else None,
            payment_terms="net-30",
            ship_to=ShipTo(
                name=f"Customer {i}",
                street=f"{i % 300} Market Street",
                city="Rotterdam",
                postal_code=f"30{i % 100:02d} AB",
                country="NL",
            ),
            lines=tuple(
                OrderLine(f"SKU-{(i + k) % 500:06d}", 1 + k, 499 + 100 * k) for k in range(3)
            ),
        )
        envelopes.append(
            new_envelope(
                payload,
                stream_id=order_stream_id(order_id),
                version=1,
                timestamp=START + timedelta(microseconds=i * 250),
                correlation_id=command,
                causation_id=command,
            )
        )
    return envelopes


# ---------------------------------------------------------------- the eventsourcing peer


@dataclass(frozen=True)
class PeerStockReserved:
    originator_id: str
    originator_version: int
    timestamp: datetime
    event_id: UUID
    correlation_id: UUID
    causation_id: UUID
    sku: str
    location: str
    hold_id: int
    order_id: str
    quantity: int
    expires_at: int
    reserved: int


@dataclass(frozen=True)
class PeerOrderPlaced:
    originator_id: str
    originator_version: int
    timestamp: datetime
    event_id: UUID
    correlation_id: UUID
    causation_id: UUID
    order_id: str
    customer_id: str
    channel: str
    campaign: str | None
    payment_terms: str
    ship_to: dict[str, str]
    lines: list[dict[str, Any]]


def peer_event(envelope: Envelope) -> PeerStockReserved | PeerOrderPlaced:
    common: dict[str, Any] = {
        "originator_id": envelope.stream_id,
        "originator_version": envelope.version,
        "timestamp": envelope.timestamp,
        "event_id": envelope.event_id,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
    }
    data = envelope.data
    if isinstance(data, StockReserved):
        return PeerStockReserved(
            **common,
            sku=data.sku,
            location=data.location,
            hold_id=data.hold_id,
            order_id=data.order_id,
            quantity=data.quantity,
            expires_at=data.expires_at,
            reserved=data.reserved,
        )
    assert isinstance(data, OrderPlaced)
    return PeerOrderPlaced(
        **common,
        order_id=data.order_id,
        customer_id=data.customer_id,
        channel=data.channel,
        campaign=data.campaign,
        payment_terms=data.payment_terms,
        ship_to={
            "name": data.ship_to.name,
            "street": data.ship_to.street,
            "city": data.ship_to.city,
            "postal_code": data.ship_to.postal_code,
            "country": data.ship_to.country,
        },
        lines=[
            {"sku": line.sku, "quantity": line.quantity, "unit_price_cents": line.unit_price_cents}
            for line in data.lines
        ],
    )


def eventsourcing_mapper() -> Mapper[str]:
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    return Mapper(transcoder=transcoder)


# ---------------------------------------------------------------- peers


@dataclass(frozen=True)
class Peer:
    """One way to turn envelopes into stored records and back."""

    prepare: Callable[[Envelope], Any]
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]
    decode_batch: Callable[[list[Any]], list[Any]]
    size: Callable[[Any], int]


def one_by_one(decode: Callable[[Any], Any]) -> Callable[[list[Any]], list[Any]]:
    return lambda records: [decode(record) for record in records]


def replay_one(record: bytes) -> StreamEvent:
    return codec.decode_for_replay([record])[0]


_mapper = eventsourcing_mapper()

PEERS: dict[str, Peer] = {
    "stockledger": Peer(
        prepare=lambda envelope: envelope,
        encode=codec.encode,
        decode=codec.decode,
        decode_batch=one_by_one(codec.decode),
        size=len,
    ),
    "stockledger-replay": Peer(
        prepare=lambda envelope: envelope,
        encode=codec.encode,
        decode=replay_one,
        decode_batch=codec.decode_for_replay,
        size=len,
    ),
    "stockledger-stored": Peer(
        prepare=lambda envelope: envelope,
        encode=codec.to_stored,
        decode=codec.from_stored,
        decode_batch=one_by_one(codec.from_stored),
        size=lambda stored: len(stored.state),
    ),
    "eventsourcing": Peer(
        prepare=peer_event,
        encode=_mapper.to_stored_event,
        decode=_mapper.to_domain_event,
        decode_batch=one_by_one(_mapper.to_domain_event),
        size=lambda stored: len(stored.state),
    ),
}
ENCODERS = [name for name in PEERS if name != "stockledger-replay"]

EVENTS = {"StockReserved": stock_envelopes, "OrderPlaced-3-lines": order_envelopes}


@pytest.fixture(scope="module", params=list(EVENTS))
def events(request: pytest.FixtureRequest) -> tuple[str, list[Envelope]]:
    return request.param, EVENTS[request.param](BATCH_SIZE)


def report(
    benchmark: BenchmarkFixture,
    figure: Record,
    title: str,
    events_per_call: int,
    bytes_per_event: float,
) -> None:
    benchmark.extra_info["events_per_call"] = events_per_call
    benchmark.extra_info["bytes_per_event"] = round(bytes_per_event, 1)
    rate = per_second(benchmark, events_per_call)
    if rate is None:
        return
    benchmark.extra_info["events_per_s"] = round(rate)
    benchmark.extra_info["ns_per_event"] = round(1e9 / rate, 1)
    if events_per_call > 1:
        replay = title.startswith("decode StockReserved") and title.endswith("stockledger-replay")
        bar = "a fraction of 1 us/event: replay end to end >= 1,000,000/s" if replay else ""
        figure(f"codec {title}", rate, "events/s", bar)


def single(benchmark: BenchmarkFixture, function: Callable[[Any], Any], argument: Any) -> Any:
    return benchmark.pedantic(
        function, args=(argument,), iterations=SINGLE_ITERATIONS, rounds=SINGLE_ROUNDS
    )


def same_event(peer_name: str, original: Envelope, decoded: Any) -> bool:
    if peer_name == "stockledger-replay":
        fields = StreamEvent.__struct_fields__
        return [getattr(decoded, f) for f in fields] == [getattr(original, f) for f in fields]
    if peer_name.startswith("stockledger"):
        return bool(decoded == original)
    return bool(decoded == peer_event(original))


@pytest.mark.parametrize("batched", [False, True], ids=["single", "batch"])
@pytest.mark.parametrize("peer_name", ENCODERS)
def test_encode(
    benchmark: BenchmarkFixture,
    figure: Record,
    events: tuple[str, list[Envelope]],
    peer_name: str,
    batched: bool,
) -> None:
    event_name, envelopes = events
    p = PEERS[peer_name]
    prepared = [p.prepare(envelope) for envelope in envelopes]
    encode = p.encode
    mode = "batch" if batched else "single"
    benchmark.group = f"codec: encode {event_name}, {mode}"
    if batched:
        records = benchmark(lambda: [encode(item) for item in prepared])
        assert len(records) == BATCH_SIZE
    else:
        records = [single(benchmark, encode, prepared[0])]
    size = sum(p.size(r) for r in records) / len(records)
    title = f"encode {event_name} {mode}, {peer_name}"
    report(benchmark, figure, title, BATCH_SIZE if batched else 1, size)


@pytest.mark.parametrize("batched", [False, True], ids=["single", "batch"])
@pytest.mark.parametrize("peer_name", list(PEERS))
def test_decode(
    benchmark: BenchmarkFixture,
    figure: Record,
    events: tuple[str, list[Envelope]],
    peer_name: str,
    batched: bool,
) -> None:
    event_name, envelopes = events
    p = PEERS[peer_name]
    records = [p.encode(p.prepare(envelope)) for envelope in envelopes]
    mode = "batch" if batched else "single"
    benchmark.group = f"codec: decode {event_name}, {mode}"
    decoded = (
        benchmark(p.decode_batch, records) if batched else [single(benchmark, p.decode, records[0])]
    )
    assert all(same_event(peer_name, e, d) for e, d in zip(envelopes, decoded, strict=False))
    assert len(decoded) == (BATCH_SIZE if batched else 1)
    size = sum(p.size(r) for r in records) / len(records)
    title = f"decode {event_name} {mode}, {peer_name}"
    report(benchmark, figure, title, BATCH_SIZE if batched else 1, size)
