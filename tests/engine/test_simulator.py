"""The storefront simulator against the real engine on a real embedded store.

One run of a month's trading (module fixture) is recorded batch by batch,
answers included, and the tests read that record.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from engine.commands import (
    AnyCommand,
    CapturePayment,
    DecideCreditReview,
    PlaceOrder,
    ShipLines,
    json_decoder,
    json_encoder,
)
from engine.engine import Answer, Engine, EngineSettings
from engine.events import HoldReason, OrderConfirmed, OrderCreditHeld, OrderStockReserved
from engine.simulator import SimulatorSettings, Storefront, flow_workload, run
from engine.store import open_factory

SETTINGS = SimulatorSettings(
    orders=2_000, customers=120, skus=60, hot_skus=3, batch_size=20, ticks_per_day=4, seed=11
)


def _engine(path: Path) -> Engine:
    # gc.freeze is process-wide; a test has no reason to touch it.
    recorder = open_factory(f"sqlite:///{path}").application_recorder()
    return Engine.open(recorder, EngineSettings(freeze_gc=False))


@dataclass
class Record:
    storefront: Storefront
    batches: list[list[AnyCommand]]
    answers: list[list[Answer]]

    @property
    def commands(self) -> Iterator[AnyCommand]:
        return (command for batch in self.batches for command in batch)


def _record(path: Path, settings: SimulatorSettings) -> Record:
    engine = _engine(path)
    storefront = Storefront(settings)
    record = Record(storefront, [], [])
    while (batch := storefront.next_batch()) is not None:
        answers = engine.submit(batch)
        storefront.observe(answers)
        record.batches.append(batch)
        record.answers.append(answers)
    return record


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> Record:
    return _record(tmp_path_factory.mktemp("sim") / "x.db", SETTINGS)


def test_same_seed_same_commands(record: Record, tmp_path: Path) -> None:
    again = _record(tmp_path / "again.db", SETTINGS)
    assert json_encoder.encode(again.batches) == json_encoder.encode(record.batches)
    assert again.storefront.stats() == record.storefront.stats()


def test_another_seed_other_commands(record: Record) -> None:
    other = Storefront(replace(SETTINGS, seed=12))
    first = other.next_batch()
    assert first is not None
    assert json_encoder.encode(first) != json_encoder.encode(record.batches[0])


def test_every_kind_of_command_is_sent(record: Record) -> None:
    kinds = {cls.__name__ for cls in typing.get_args(AnyCommand)}
    assert set(record.storefront.stats().commands) == kinds


def test_orders_meet_every_fate(record: Record) -> None:
    outcomes = record.storefront.stats().outcomes
    for fate in (
        "confirmed",
        "cancelled",
        "expired",
        "held:awaiting_payment",
        "held:tolerance_band",
        "held:overdue",
        "rejected:credit_rejected",
        "rejected:insufficient_stock",
        "invoices_overdue",
        "returns",
        "deliveries",
        "payments_recorded",
    ):
        assert outcomes.get(fate, 0) > 0, fate
    assert outcomes["confirmed"] > SETTINGS.orders // 2
    assert record.storefront.stats().commands["PlaceOrder"] == SETTINGS.orders


def test_command_ids_are_unique(record: Record) -> None:
    ids = [command.command_id for command in record.commands]
    assert len(ids) == len(set(ids))
    assert not any(answer.retry for answers in record.answers for answer in answers)


def test_commands_round_trip_through_json(record: Record) -> None:
    for command in record.commands:
        assert json_decoder.decode(json_encoder.encode(command)) == command


def test_ships_only_what_an_answer_confirmed(record: Record) -> None:
    """Every shipment follows an answer that confirmed its order, and ships exactly
    what the order holds at the shipment's location; payments and reviews follow holds."""
    held: dict[str, dict[str, dict[str, int]]] = {}
    confirmed: set[str] = set()
    awaiting: dict[str, HoldReason] = {}
    shipped = 0
    for batch, answers in zip(record.batches, record.answers, strict=True):
        for command in batch:
            if isinstance(command, ShipLines):
                assert command.order_id in confirmed
                lines = {line.sku: line.quantity for line in command.lines}
                assert lines == held[command.order_id][command.location]
                shipped += 1
            elif isinstance(command, CapturePayment):
                assert awaiting[command.order_id] is HoldReason.AWAITING_PAYMENT
            elif isinstance(command, DecideCreditReview):
                assert awaiting[command.order_id] is not HoldReason.AWAITING_PAYMENT
        for answer in answers:
            for payload in (envelope.data for envelope in answer.events):
                if isinstance(payload, OrderStockReserved):
                    at = held.setdefault(payload.order_id, {})
                    for hold in payload.holds:
                        skus = at.setdefault(hold.location, {})
                        skus[hold.sku] = skus.get(hold.sku, 0) + hold.quantity
                elif isinstance(payload, OrderConfirmed):
                    confirmed.add(payload.order_id)
                elif isinstance(payload, OrderCreditHeld):
                    awaiting[payload.order_id] = payload.reason
    assert shipped > 0
    rejections = record.storefront.stats().rejections
    assert not [kind for kind in rejections if kind.startswith(("ShipLines", "DeliverOrder"))]


def test_orders_have_one_to_five_lines(record: Record) -> None:
    orders = [c for c in record.commands if isinstance(c, PlaceOrder)]
    assert {len(order.lines) for order in orders} == {1, 2, 3, 4, 5}
    assert {order.channel for order in orders} == {"web", "app", "marketplace", "telesales"}


def test_a_batch_waits_for_its_answers() -> None:
    storefront = Storefront(SETTINGS)
    batch = storefront.next_batch()
    assert batch is not None
    with pytest.raises(RuntimeError, match="observe the answers"):
        storefront.next_batch()
    with pytest.raises(ValueError, match="one per command"):
        storefront.observe([])


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="hot_skus"):
        SimulatorSettings(skus=5, hot_skus=5)
    with pytest.raises(ValueError, match="batch_commands_max"):
        SimulatorSettings(batch_commands_max=20_000)
    with pytest.raises(ValueError, match="a day needs"):
        SimulatorSettings(ticks_per_day=1)
    with pytest.raises(ValueError, match="cancel_percent"):
        SimulatorSettings(cancel_percent=101)


def test_a_quiet_evening_does_not_end_the_run(tmp_path: Path) -> None:
    """Nothing to follow up (prepaid orders nobody pays, stock to last months),
    and the day's last tick takes no orders: the run still goes on to place
    them all, and they expire."""
    settings = replace(
        SETTINGS,
        orders=40,
        batch_size=5,
        prepaid_percent=100,
        net_14_percent=0,
        capture_percent=0,
        stock_days=100,
        adjust_percent=0,
    )
    stats = run(_engine(tmp_path / "x.db"), settings)
    assert stats.commands["PlaceOrder"] == 40
    assert stats.outcomes["expired"] == stats.outcomes["held:awaiting_payment"]


def test_run_drives_an_engine_to_the_end(tmp_path: Path) -> None:
    settings = replace(SETTINGS, orders=300)
    seen: list[tuple[int, int]] = []
    stats = run(
        _engine(tmp_path / "x.db"), settings, lambda done, total: seen.append((done, total))
    )
    assert stats.commands["PlaceOrder"] == 300
    assert seen[-1] == (300, 300)
    assert stats.events > 0


def test_flow_orders_all_confirm(tmp_path: Path) -> None:
    setup, orders = flow_workload(500, seed=3)
    assert all(isinstance(o, PlaceOrder) and len(o.lines) == 3 for o in orders)
    assert flow_workload(500, seed=3) == (setup, orders)
    engine = _engine(tmp_path / "x.db")
    engine.submit(setup)
    answers = engine.submit(orders)
    assert all(type(answer.events[-1].data) is OrderConfirmed for answer in answers)
