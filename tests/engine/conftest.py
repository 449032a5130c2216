"""A real engine on a real embedded store, and short builders for its commands.

`shop` is an engine with stock and a credit account already in place:

- SKU A at `east` (priority 0, 10 on hand) and `west` (priority 1, 5 on hand);
- SKU B at `east` (4 on hand);
- customer `cu`: limit 10 000 cents on net-30 terms.

Builders give every command a fresh command id unless one is passed, so a test
names an id only where retries are the point.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import ApplicationRecorder
from msgspec.structs import replace

from engine.commands import (
    AdjustStock,
    AdvanceClock,
    AnyCommand,
    CancelOrder,
    CapturePayment,
    CommandLine,
    ConfigureSlot,
    DecideCreditReview,
    DeliverOrder,
    PlaceOrder,
    ReceiveStock,
    RecordPayment,
    ReturnLine,
    ReturnLines,
    SetCreditLimit,
    ShipLines,
    SkuQuantity,
)
from engine.engine import Answer, Engine, EngineSettings
from engine.events import Disposition, Event, ShipTo
from engine.store import open_factory

SHIP_TO = ShipTo(name="Ada", street="1 Road", city="Town", postal_code="12345", country="DE")
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CUSTOMER = "cu"
LIMIT_CENTS = 10_000
PRICE_A = 100
PRICE_B = 250
TTL_S = 900
DAY_S = 86_400

_ids = itertools.count(1)


def _cid(cid: str | None) -> str:
    return cid if cid is not None else f"cmd-{next(_ids)}"


# ---------------------------------------------------------------- builders


def line(sku: str, quantity: int, price: int | None = None) -> CommandLine:
    default = PRICE_A if sku == "A" else PRICE_B
    return CommandLine(sku, quantity, default if price is None else price)


def place(
    order_id: str,
    *lines: CommandLine,
    customer: str = CUSTOMER,
    terms: str = "net-30",
    cid: str | None = None,
) -> PlaceOrder:
    return PlaceOrder(
        command_id=_cid(cid),
        order_id=order_id,
        customer_id=customer,
        channel="web",
        payment_terms=terms,
        ship_to=SHIP_TO,
        lines=lines or (line("A", 1),),
    )


def cancel(order_id: str, cid: str | None = None) -> CancelOrder:
    return CancelOrder(command_id=_cid(cid), order_id=order_id, reason="changed mind")


def capture(order_id: str, amount_cents: int, payment_id: str = "pay-1") -> CapturePayment:
    return CapturePayment(
        command_id=_cid(None), order_id=order_id, payment_id=payment_id, amount_cents=amount_cents
    )


def ship(order_id: str, shipment_id: str, location: str, *quantities: tuple[str, int]) -> ShipLines:
    return ShipLines(
        command_id=_cid(None),
        order_id=order_id,
        shipment_id=shipment_id,
        location=location,
        lines=tuple(SkuQuantity(sku, quantity) for sku, quantity in quantities),
    )


def deliver(order_id: str, shipment_id: str) -> DeliverOrder:
    return DeliverOrder(command_id=_cid(None), order_id=order_id, shipment_id=shipment_id)


def returned(
    sku: str, quantity: int, disposition: Disposition, location: str = "east"
) -> ReturnLine:
    return ReturnLine(sku=sku, quantity=quantity, disposition=disposition, location=location)


def return_lines(order_id: str, return_id: str, *lines: ReturnLine) -> ReturnLines:
    return ReturnLines(command_id=_cid(None), order_id=order_id, return_id=return_id, lines=lines)


def configure(sku: str, location: str, priority: int = 0, **settings: int) -> ConfigureSlot:
    return ConfigureSlot(
        command_id=_cid(None), sku=sku, location=location, priority=priority, **settings
    )


def receive(sku: str, location: str, quantity: int, reference: str = "po") -> ReceiveStock:
    return ReceiveStock(
        command_id=_cid(None), sku=sku, location=location, quantity=quantity, reference=reference
    )


def adjust(sku: str, location: str, **change: Any) -> AdjustStock:
    return AdjustStock(
        command_id=_cid(None),
        sku=sku,
        location=location,
        reason="count",
        reference="cnt-1",
        **change,
    )


def set_limit(
    customer: str = CUSTOMER, limit_cents: int = LIMIT_CENTS, terms: str = "net-30"
) -> SetCreditLimit:
    return SetCreditLimit(
        command_id=_cid(None), customer_id=customer, limit_cents=limit_cents, payment_terms=terms
    )


def pay(amount_cents: int, customer: str = CUSTOMER, payment_id: str = "pm-1") -> RecordPayment:
    return RecordPayment(
        command_id=_cid(None),
        customer_id=customer,
        payment_id=payment_id,
        amount_cents=amount_cents,
    )


def review(order_id: str, approve: bool) -> DecideCreditReview:
    return DecideCreditReview(
        command_id=_cid(None), order_id=order_id, approve=approve, decided_by="ana", why="checked"
    )


def advance(now: int, cid: str | None = None) -> AdvanceClock:
    return AdvanceClock(command_id=_cid(cid), now=now)


# ---------------------------------------------------------------- reading answers


def payloads(answer: Answer) -> list[Event]:
    return [envelope.data for envelope in answer.events]


def kinds(answer: Answer) -> list[str]:
    return [type(envelope.data).__name__ for envelope in answer.events]


# ---------------------------------------------------------------- the engine


class Shop:
    """An engine on a SQLite file, and the means to reopen it on the same file."""

    def __init__(self, path: Path) -> None:
        self.url = f"sqlite:///{path}"
        self.recorder: ApplicationRecorder = self._recorder()
        self.engine = self._open(self.recorder)

    def _recorder(self) -> ApplicationRecorder:
        return open_factory(self.url).application_recorder()

    @staticmethod
    def _open(recorder: ApplicationRecorder) -> Engine:
        # gc.freeze is process-wide; a test has no reason to touch it.
        settings = EngineSettings(hold_ttl_s=TTL_S, freeze_gc=False)
        return Engine.open(recorder, settings, clock=lambda: NOW)

    def submit(self, *commands: AnyCommand) -> list[Answer]:
        return self.engine.submit(list(commands))

    def one(self, command: AnyCommand) -> Answer:
        (answer,) = self.engine.submit([command])
        return answer

    def events(self, command: AnyCommand) -> list[Event]:
        return payloads(self.one(command))

    def reopen(self) -> Engine:
        """A second engine, recovered from the same store file."""
        self.recorder = self._recorder()
        self.engine = self._open(self.recorder)
        return self.engine

    @property
    def notifications(self) -> int:
        return self.recorder.max_notification_id() or 0

    def available(self, sku: str, location: str) -> tuple[int, int]:
        """(on_hand, reserved) of a slot."""
        slot = self.engine.core.slot(sku, location)
        assert slot is not None
        return slot.on_hand, slot.reserved

    def status(self, order_id: str) -> str:
        return self.engine.orders[order_id].status.value

    def exposure(self, customer: str = CUSTOMER) -> int:
        return self.engine.accounts[customer].exposure_cents


@pytest.fixture
def empty_shop(tmp_path: Path) -> Shop:
    return Shop(tmp_path / "x.db")


def stock_up(shop: Shop) -> Shop:
    """Give `shop` the stock and the credit account the module docstring lists.

    The command ids are fixed, so two shops set up this way are alike to the byte.
    """
    commands: list[AnyCommand] = [
        configure("A", "east", 0),
        configure("A", "west", 1),
        configure("B", "east", 0),
        receive("A", "east", 10),
        receive("A", "west", 5),
        receive("B", "east", 4),
        set_limit(),
    ]
    shop.submit(*(replace(c, command_id=f"setup-{i}") for i, c in enumerate(commands)))
    return shop


@pytest.fixture
def shop(empty_shop: Shop) -> Shop:
    return stock_up(empty_shop)
