"""`verify` over real stores: a clean engine history passes with the right counts,
and each deliberately corrupted history is caught at the corrupting event."""

from __future__ import annotations

import io
import itertools
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder
from rich.console import Console

from engine.codec import to_stored
from engine.commands import (
    AdvanceClock,
    AnyCommand,
    CancelOrder,
    CommandLine,
    ConfigureSlot,
    DecideCreditReview,
    DeliverOrder,
    PlaceOrder,
    ReceiveStock,
    ReturnLine,
    ReturnLines,
    SetCreditLimit,
    ShipLines,
    SkuQuantity,
    command_uuid,
)
from engine.engine import Engine, EngineSettings
from engine.events import (
    CreditApproved,
    CreditReviewDecided,
    Disposition,
    Envelope,
    Event,
    OrderCommandRejected,
    OrderConfirmed,
    ShipTo,
    customer_stream_id,
    new_envelope,
    order_stream_id,
)
from engine.stock.events import HoldReleased, StockReceived, StockReserved, stream_id
from engine.store import open_factory
from engine.verify import Rule, VerifyReport, render_report, verify_store

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SHIP_TO = ShipTo(name="Ada", street="1 Road", city="Town", postal_code="12345", country="DE")
LIMIT_CENTS = 10_000
TTL_S = 900
_ids = itertools.count(1)


def _cid() -> str:
    return f"verify-{next(_ids)}"


def _place(order_id: str, sku: str, quantity: int, price: int, terms: str = "net-30") -> PlaceOrder:
    return PlaceOrder(
        command_id=_cid(),
        order_id=order_id,
        customer_id="cu",
        channel="web",
        payment_terms=terms,
        ship_to=SHIP_TO,
        lines=(CommandLine(sku, quantity, price),),
    )


@dataclass
class Store:
    recorder: ApplicationRecorder
    engine: Engine
    envelopes: list[Envelope]
    last_command_id: str

    def submit(self, *commands: AnyCommand) -> None:
        for answer in self.engine.submit(commands):
            if not answer.retry:
                self.envelopes += answer.events
        self.last_command_id = commands[-1].command_id

    def append(
        self,
        payload: Event,
        stream: str,
        *,
        skip: int = 0,
        event_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
    ) -> int:
        """Write `payload` straight through the recorder, as one commit; its notification id."""
        cause = causation_id or uuid.uuid4()
        envelope = new_envelope(
            payload,
            stream_id=stream,
            version=len(self.recorder.select_events(stream)) + 1 + skip,
            timestamp=NOW,
            correlation_id=cause,
            causation_id=cause,
            event_id=event_id,
        )
        (notification_id,) = self.recorder.insert_events([to_stored(envelope)]) or []
        return notification_id


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A history with every ending an order can have, a review approved above the
    limit, a rejected command and a retry."""
    recorder = open_factory(f"sqlite:///{tmp_path / 'store.db'}").application_recorder()
    settings = EngineSettings(hold_ttl_s=TTL_S, freeze_gc=False)
    s = Store(recorder, Engine.open(recorder, settings, clock=lambda: NOW), [], "")
    s.submit(
        ConfigureSlot(command_id=_cid(), sku="A", location="east"),
        ConfigureSlot(command_id=_cid(), sku="B", location="east"),
        ReceiveStock(command_id=_cid(), sku="A", location="east", quantity=10, reference="po-1"),
        ReceiveStock(command_id=_cid(), sku="B", location="east", quantity=4, reference="po-2"),
        SetCreditLimit(
            command_id=_cid(), customer_id="cu", limit_cents=LIMIT_CENTS, payment_terms="net-30"
        ),
    )
    s.submit(_place("shipped", "A", 2, 100), _place("open", "A", 1, 100))
    ship = (SkuQuantity("A", 2),)
    s.submit(
        ShipLines(
            command_id=_cid(), order_id="shipped", shipment_id="s1", location="east", lines=ship
        )
    )
    s.submit(DeliverOrder(command_id=_cid(), order_id="shipped", shipment_id="s1"))
    back = ReturnLine(sku="A", quantity=1, disposition=Disposition.RESTOCK, location="east")
    s.submit(ReturnLines(command_id=_cid(), order_id="shipped", return_id="r1", lines=(back,)))
    cancel = CancelOrder(command_id=_cid(), order_id="cancelled", reason="changed mind")
    s.submit(_place("cancelled", "A", 1, 100), cancel)
    s.submit(cancel)  # a retry: answered again, nothing written
    # 200 exposure + 10 500 is inside the tolerance band: held, then approved by review.
    s.submit(_place("reviewed", "B", 1, 10_500))
    s.submit(
        DecideCreditReview(
            command_id=_cid(), order_id="reviewed", approve=True, decided_by="ana", why="ok"
        )
    )
    s.submit(_place("over-limit", "A", 1, 50_000), _place("short", "A", 100, 100))
    s.submit(_place("unpaid", "A", 1, 100, terms="prepaid"))
    s.submit(AdvanceClock(command_id=_cid(), now=TTL_S + 1))
    s.submit(CancelOrder(command_id=_cid(), order_id="nope", reason="no such order"))
    return s


def _reserved(s: Store, sku: str, location: str) -> int:
    slot = s.engine.core.slot(sku, location)
    assert slot is not None
    return slot.reserved


def _hold_of(s: Store, order_id: str) -> int:
    (hold,) = s.engine.orders[order_id].holds.values()
    return hold.hold_id


def _assert_caught(report: VerifyReport, rule: Rule, notification_id: int, kind: str) -> None:
    assert not report.ok
    assert report.violation is not None
    assert (report.violation.rule, report.violation.event.notification_id) == (
        rule,
        notification_id,
    ), report.violation
    assert report.violation.event.type == kind
    assert report.events == notification_id


# ---------------------------------------------------------------- a clean history


def test_a_clean_history_passes_with_its_counts(store: Store) -> None:
    report = verify_store(store.recorder)
    assert report.ok, report.violation
    assert report.events == len(store.envelopes)
    assert report.streams == len({e.stream_id for e in store.envelopes})
    assert report.commands == len({e.causation_id for e in store.envelopes})
    assert report.orders_by_status == {
        "cancelled": 1,
        "confirmed": 2,
        "delivered": 1,
        "expired": 1,
        "rejected": 2,
    }
    # "open" and "reviewed" are confirmed: their holds stay open, and that is legal.
    assert report.open_holds == 2
    assert report.events_per_s > 0
    # The history does hold the legal way above the limit: a review of a held order.
    (decided,) = [e.data for e in store.envelopes if isinstance(e.data, CreditReviewDecided)]
    assert decided.approved
    assert decided.exposure_cents + decided.amount_cents > LIMIT_CENTS


def test_another_recorder_is_read_by_notifications(store: Store) -> None:
    popo = POPOApplicationRecorder()
    popo.insert_events(_copy(store.recorder))
    report = verify_store(popo)
    assert report.ok, report.violation
    assert report.as_dict() | {"events_per_s": 0} == verify_store(store.recorder).as_dict() | {
        "events_per_s": 0
    }


def _copy(recorder: ApplicationRecorder) -> list[StoredEvent]:
    return [
        StoredEvent(n.originator_id, n.originator_version, n.topic, n.state)
        for n in recorder.select_notifications(None, 1_000_000)
    ]


# ---------------------------------------------------------------- corrupted histories


def test_an_oversell_is_caught(store: Store) -> None:
    quantity = 50  # only 10 were ever received
    oversell = StockReserved(
        sku="A",
        location="east",
        hold_id=store.engine.core.state().next_hold_id,
        order_id="greedy",
        quantity=quantity,
        expires_at=TTL_S * 3,
        reserved=_reserved(store, "A", "east") + quantity,
    )
    at = store.append(oversell, stream_id("A", "east"))
    report = verify_store(store.recorder)
    _assert_caught(report, Rule.STOCK_INVARIANT, at, "StockReserved")
    assert report.violation is not None
    assert report.violation.event.json is not None
    assert json.loads(report.violation.event.json)["data"]["order_id"] == "greedy"


def test_a_hold_ended_twice_is_caught(store: Store) -> None:
    released = next(
        e.data
        for e in store.envelopes
        if isinstance(e.data, HoldReleased) and e.data.remaining == 0
    )
    again = HoldReleased(
        sku="A",
        location="east",
        hold_id=released.hold_id,
        quantity=released.quantity,
        remaining=0,
        reserved=_reserved(store, "A", "east") - released.quantity,
    )
    at = store.append(again, stream_id("A", "east"))
    report = verify_store(store.recorder)
    _assert_caught(report, Rule.HOLD_ENDS_ONCE, at, "HoldReleased")
    assert report.violation is not None
    assert f"hold {released.hold_id} has already ended" in report.violation.detail


def test_a_version_gap_is_caught(store: Store) -> None:
    at = store.append(_rejection("open"), order_stream_id("open"), skip=1)
    report = verify_store(store.recorder)
    _assert_caught(report, Rule.CONTIGUOUS_VERSIONS, at, "OrderCommandRejected")


def test_a_duplicate_event_id_is_caught(store: Store) -> None:
    first = store.envelopes[3].event_id
    at = store.append(_rejection("open"), order_stream_id("open"), event_id=first)
    report = verify_store(store.recorder)
    _assert_caught(report, Rule.UNIQUE_EVENT_ID, at, "OrderCommandRejected")
    assert report.violation is not None
    assert str(first) in report.violation.detail


def test_an_approval_above_the_limit_is_caught(store: Store) -> None:
    account = store.engine.accounts["cu"]
    amount = 500
    approval = CreditApproved(
        customer_id="cu",
        order_id="sneaky",
        amount_cents=amount,
        exposure_cents=account.exposure_cents + amount,
    )
    assert approval.exposure_cents > LIMIT_CENTS
    at = store.append(approval, customer_stream_id("cu"))
    report = verify_store(store.recorder)
    _assert_caught(report, Rule.CREDIT_LIMIT, at, "CreditApproved")


def test_a_command_split_across_two_commits_is_caught(store: Store) -> None:
    cause = command_uuid(store.last_command_id)
    at = store.append(_rejection("open"), order_stream_id("open"), causation_id=cause)
    report = verify_store(store.recorder)
    _assert_caught(report, Rule.ONE_ANSWER_PER_COMMAND, at, "OrderCommandRejected")
    assert report.violation is not None
    assert "next commit" in report.violation.detail


def test_a_command_answered_again_later_is_caught_on_any_recorder(store: Store) -> None:
    popo = POPOApplicationRecorder()
    popo.insert_events(_copy(store.recorder))
    earlier = store.envelopes[0].causation_id
    envelope = new_envelope(
        _rejection("open"),
        stream_id=order_stream_id("open"),
        version=len(popo.select_events(order_stream_id("open"))) + 1,
        timestamp=NOW,
        correlation_id=earlier,
        causation_id=earlier,
    )
    (at,) = popo.insert_events([to_stored(envelope)]) or []
    report = verify_store(popo)
    _assert_caught(report, Rule.ONE_ANSWER_PER_COMMAND, at, "OrderCommandRejected")


def test_movements_that_do_not_add_up_are_caught(store: Store) -> None:
    on_hand = store.engine.core.slot("B", "east")
    assert on_hand is not None
    wrong = StockReceived(
        sku="B", location="east", quantity=1, reference="po-3", on_hand=on_hand.on_hand + 2
    )
    at = store.append(wrong, stream_id("B", "east"))
    _assert_caught(verify_store(store.recorder), Rule.STOCK_MOVEMENTS, at, "StockReceived")


def test_a_confirmation_of_an_order_that_was_never_reserved_is_caught(store: Store) -> None:
    at = store.append(
        OrderConfirmed(order_id="short", total_cents=10_000), order_stream_id("short")
    )
    _assert_caught(verify_store(store.recorder), Rule.ORDER_LIFECYCLE, at, "OrderConfirmed")


def test_an_undecodable_record_is_caught(store: Store) -> None:
    stream = order_stream_id("open")
    version = len(store.recorder.select_events(stream)) + 1
    record = StoredEvent(stream, version, "orders:OrderConfirmed", b"\xc1 not msgpack")
    (at,) = store.recorder.insert_events([record]) or []
    report = verify_store(store.recorder)
    _assert_caught(report, Rule.DECODABLE, at, "OrderConfirmed")
    assert report.violation is not None
    assert report.violation.event.json is None


def _rejection(order_id: str) -> OrderCommandRejected:
    return OrderCommandRejected(
        order_id=order_id,
        command_id="forged",
        command="CancelOrder",
        reason="invalid_state",  # type: ignore[arg-type]
        detail="written around the engine",
    )


# ---------------------------------------------------------------- rendering


def test_the_report_names_the_rule_and_the_event(store: Store) -> None:
    hold = _hold_of(store, "open")
    at = store.append(
        HoldReleased(
            sku="A", location="east", hold_id=hold + 1000, quantity=1, remaining=0, reserved=0
        ),
        stream_id("A", "east"),
    )
    out = io.StringIO()
    render_report(verify_store(store.recorder), Console(file=out, width=200))
    text = out.getvalue()
    assert "hold_ends_once" in text
    assert f"{at}" in text
    assert "HoldReleased" in text
    assert "never issued" in text


def test_a_clean_report_says_so(store: Store) -> None:
    out = io.StringIO()
    render_report(verify_store(store.recorder), Console(file=out, width=200))
    assert "every invariant holds" in out.getvalue()
