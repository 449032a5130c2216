"""`history` and `state_at` over a real engine's store: the state after each event,
at a version, as of a time, and the errors that name what is missing."""

from __future__ import annotations

import io
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eventsourcing.persistence import ApplicationRecorder
from rich.console import Console

from engine.commands import (
    AdvanceClock,
    AnyCommand,
    CancelOrder,
    CapturePayment,
    CommandLine,
    ConfigureSlot,
    DeliverOrder,
    PlaceOrder,
    ReceiveStock,
    SetCreditLimit,
    ShipLines,
    SkuQuantity,
)
from engine.engine import Engine, EngineSettings
from engine.events import ShipTo
from engine.history import (
    NoEventsAsOfError,
    UnknownStreamError,
    VersionBeyondEndError,
    history,
    render_history,
    render_state,
    state_at,
    to_jsonable,
)
from engine.store import open_factory

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SHIP_TO = ShipTo(name="Ada", street="1 Road", city="Town", postal_code="12345", country="DE")
_ids = itertools.count(1)


def _cid() -> str:
    return f"history-{next(_ids)}"


class Shop:
    """An engine whose wall clock moves a minute per batch."""

    def __init__(self, path: Path) -> None:
        self.recorder: ApplicationRecorder = open_factory(
            f"sqlite:///{path}"
        ).application_recorder()
        self.time = START
        settings = EngineSettings(hold_ttl_s=900, freeze_gc=False)
        self.engine = Engine.open(self.recorder, settings, clock=lambda: self.time)

    def submit(self, *commands: AnyCommand) -> None:
        self.engine.submit(commands)
        self.time += timedelta(minutes=1)


def _place(order_id: str, quantity: int, terms: str = "net-30") -> PlaceOrder:
    return PlaceOrder(
        command_id=_cid(),
        order_id=order_id,
        customer_id="cu",
        channel="web",
        payment_terms=terms,
        ship_to=SHIP_TO,
        lines=(CommandLine("A", quantity, 100),),
    )


def _ship(order_id: str, shipment_id: str) -> ShipLines:
    return ShipLines(
        command_id=_cid(),
        order_id=order_id,
        shipment_id=shipment_id,
        location="east",
        lines=(SkuQuantity("A", 1),),
    )


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    """Order o1 (2 x A) placed at START + 1 min, shipped in two, both delivered."""
    s = Shop(tmp_path / "store.db")
    s.submit(
        ConfigureSlot(command_id=_cid(), sku="A", location="east", safety_stock=1),
        ReceiveStock(command_id=_cid(), sku="A", location="east", quantity=10, reference="po-1"),
        SetCreditLimit(
            command_id=_cid(), customer_id="cu", limit_cents=10_000, payment_terms="net-30"
        ),
    )
    s.submit(_place("o1", 2))
    s.submit(_ship("o1", "s1"))
    s.submit(_ship("o1", "s2"))
    s.submit(DeliverOrder(command_id=_cid(), order_id="o1", shipment_id="s1"))
    s.submit(DeliverOrder(command_id=_cid(), order_id="o1", shipment_id="s2"))
    return s


def test_an_orders_history_shows_its_status_after_each_event(shop: Shop) -> None:
    rows = history(shop.recorder, "order-o1")
    assert [(type(e.data).__name__, state["status"]) for e, state in rows] == [
        ("OrderPlaced", "placed"),
        ("OrderStockReserved", "reserved"),
        ("OrderConfirmed", "confirmed"),
        ("LinesShipped", "partially_shipped"),
        ("LinesShipped", "shipped"),
        ("OrderDelivered", "shipped"),
        ("OrderDelivered", "delivered"),
    ]
    assert [e.version for e, _ in rows] == list(range(1, 8))
    # Each row holds the state as it was then, not the final one.
    assert len(rows[2][1]["holds"]) == 1
    assert rows[-1][1]["holds"] == []
    assert rows[-1][1]["shipped"] == {"A": 2}


def test_a_prepaid_order_waits_for_its_payment(shop: Shop) -> None:
    shop.submit(_place("pre", 1, terms="prepaid"))
    shop.submit(
        CapturePayment(command_id=_cid(), order_id="pre", payment_id="p1", amount_cents=100)
    )
    rows = history(shop.recorder, "order-pre")
    assert [(s["status"], s["held_reason"], s["paid_cents"]) for _, s in rows] == [
        ("placed", None, 0),
        ("reserved", None, 0),
        ("credit_held", "awaiting_payment", 0),
        ("credit_held", "awaiting_payment", 100),
        ("confirmed", None, 100),
    ]


def test_a_slots_history_follows_on_hand_and_reserved(shop: Shop) -> None:
    rows = history(shop.recorder, "sku-A@east")
    assert [
        (type(e.data).__name__, s["on_hand"], s["reserved"], s["open_holds"]) for e, s in rows
    ] == [
        ("SlotConfigured", 0, 0, 0),
        ("StockReceived", 10, 0, 0),
        ("StockReserved", 10, 2, 1),
        ("HoldConfirmed", 10, 2, 1),
        ("StockShipped", 9, 1, 1),
        ("StockShipped", 8, 0, 0),
    ]
    assert rows[1][1]["available"] == 9  # safety stock 1
    assert "holds" not in rows[2][1]


def test_a_slots_state_lists_its_open_holds(shop: Shop) -> None:
    state, last = state_at(shop.recorder, "sku-A@east", version=4)
    assert last.version == 4
    assert (state["on_hand"], state["reserved"], state["available"]) == (10, 2, 7)
    (hold,) = state["holds"]
    assert (hold["order_id"], hold["quantity"], hold["confirmed"]) == ("o1", 2, True)


def test_an_accounts_state_carries_its_exposure(shop: Shop) -> None:
    state, _ = state_at(shop.recorder, "customer-cu")
    assert state["limit_cents"] == 10_000
    assert state["exposure_cents"] == 200  # both shipments invoiced, unpaid
    assert [i["outstanding_cents"] for i in state["invoices"]] == [100, 100]


def test_the_clocks_state_is_its_time(shop: Shop) -> None:
    shop.submit(AdvanceClock(command_id=_cid(), now=60))
    shop.submit(AdvanceClock(command_id=_cid(), now=30))  # rejected: recorded in the clock stream
    state, last = state_at(shop.recorder, "clock")
    assert state == {"now": 60}
    assert type(last.data).__name__ == "OrderCommandRejected"


def test_an_order_never_placed_has_no_status(shop: Shop) -> None:
    shop.submit(CancelOrder(command_id=_cid(), order_id="ghost", reason="x"))
    state, last = state_at(shop.recorder, "order-ghost")
    assert state == {"order_id": "ghost", "status": None}
    assert type(last.data).__name__ == "OrderCommandRejected"


def test_state_at_a_version(shop: Shop) -> None:
    state, last = state_at(shop.recorder, "order-o1", version=4)
    assert (state["status"], last.version, type(last.data).__name__) == (
        "partially_shipped",
        4,
        "LinesShipped",
    )


def test_state_as_of_a_time(shop: Shop) -> None:
    # o1 was placed, reserved and confirmed in the batch at START + 1 min, shipped at + 2 min.
    state, last = state_at(
        shop.recorder, "order-o1", as_of=START + timedelta(minutes=1, seconds=30)
    )
    assert (state["status"], last.version) == ("confirmed", 3)
    state, last = state_at(shop.recorder, "order-o1", as_of=START + timedelta(minutes=2))
    assert (state["status"], last.version) == ("partially_shipped", 4)


def test_nothing_as_of_a_time_before_the_stream(shop: Shop) -> None:
    with pytest.raises(NoEventsAsOfError, match="its first is at 2024-05-01T12:01:00"):
        state_at(shop.recorder, "order-o1", as_of=START)


def test_an_unknown_stream_names_the_stream_id_forms(shop: Shop) -> None:
    with pytest.raises(UnknownStreamError, match="'order-nope' has no events") as caught:
        history(shop.recorder, "order-nope")
    assert "sku-<sku>@<location>" in str(caught.value)
    with pytest.raises(UnknownStreamError):
        state_at(shop.recorder, "o1")


def test_a_version_beyond_the_end_names_the_last_version(shop: Shop) -> None:
    with pytest.raises(VersionBeyondEndError, match="ends at version 7; there is no version 8"):
        state_at(shop.recorder, "order-o1", version=8)


@pytest.mark.parametrize(
    ("version", "as_of", "message"),
    [
        (0, None, "versions start at 1"),
        (None, datetime(2024, 5, 1, 12, 5), "no timezone"),
        (2, START, "not both"),
    ],
)
def test_a_bad_point_in_a_stream_is_refused(
    shop: Shop, version: int | None, as_of: datetime | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        state_at(shop.recorder, "order-o1", version=version, as_of=as_of)


def test_rows_render_as_a_table_and_as_json(shop: Shop) -> None:
    rows = history(shop.recorder, "order-o1")
    out = io.StringIO()
    render_history("order-o1", rows, Console(file=out, width=200))
    text = out.getvalue()
    assert "partially_shipped" in text
    assert "OrderDelivered" in text
    record = json.loads(json.dumps(to_jsonable(*rows[0])))
    assert record["event"]["data"]["type"] == "OrderPlaced"
    assert record["state"]["status"] == "placed"


def test_a_state_renders_as_a_table(shop: Shop) -> None:
    state, last = state_at(shop.recorder, "sku-A@east")
    out = io.StringIO()
    render_state("sku-A@east", state, last, Console(file=out, width=200))
    text = out.getvalue()
    assert "sku-A@east at version 6" in text
    assert "on_hand" in text
