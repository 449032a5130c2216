"""The eventsourcing peer decides every order as the engine does: same commands, same outcomes.

Both run on real SQLite files. The outcome of an order is its status after
the command: the engine's from the last event of its answer, the peer's from
its order aggregate.
"""

from __future__ import annotations

from pathlib import Path

from bench.peer_eventsourcing import PeerStorefront, run_peer
from engine.commands import (
    AnyCommand,
    CommandLine,
    ConfigureSlot,
    PlaceOrder,
    ReceiveStock,
    SetCreditLimit,
)
from engine.engine import Answer, Engine, EngineSettings
from engine.events import (
    OrderCommandRejected,
    OrderConfirmed,
    OrderCreditHeld,
    OrderRejected,
    ShipTo,
)
from engine.simulator import flow_workload
from engine.store import open_factory

SHIP_TO = ShipTo(name="Ada", street="1 Road", city="Town", postal_code="12345", country="DE")
_STATUS = {
    OrderConfirmed: "confirmed",
    OrderCreditHeld: "credit_held",
    OrderRejected: "rejected",
    OrderCommandRejected: "duplicate",
}


def _engine(path: Path) -> Engine:
    recorder = open_factory(f"sqlite:///{path}").application_recorder()
    return Engine.open(recorder, EngineSettings(freeze_gc=False))


def _status(answer: Answer) -> str:
    return _STATUS[type(answer.events[-1].data)]


def _order(
    n: int, customer: str, terms: str, *lines: tuple[str, int], order: int | None = None
) -> PlaceOrder:
    """Command `place-{n}` for order `o{order}` (`o{n}` unless given)."""
    return PlaceOrder(
        command_id=f"place-{n}",
        order_id=f"o{n if order is None else order}",
        customer_id=customer,
        channel="web",
        payment_terms=terms,
        ship_to=SHIP_TO,
        lines=tuple(CommandLine(sku, quantity, 1_000) for sku, quantity in lines),
    )


def test_flow_confirms_every_order_with_as_many_events(tmp_path: Path) -> None:
    setup, orders = flow_workload(50, seed=5)
    engine = _engine(tmp_path / "engine.db")
    engine.submit(setup)
    engine_events = sum(len(answer.events) for answer in engine.submit(orders))
    peer = PeerStorefront(str(tmp_path / "peer.db"))
    for command in setup:
        peer.handle(command)
    before = peer.recorder.max_notification_id() or 0
    assert [peer.handle(order) for order in orders] == ["confirmed"] * 50
    assert (peer.recorder.max_notification_id() or 0) - before == engine_events
    peer.close()


def test_every_decision_matches_the_engine(tmp_path: Path) -> None:
    setup: list[AnyCommand] = [
        ConfigureSlot(command_id="c1", sku="A", location="east", priority=0),
        ConfigureSlot(command_id="c2", sku="A", location="west", priority=1),
        ReceiveStock(command_id="r1", sku="A", location="east", quantity=3, reference="po"),
        ReceiveStock(command_id="r2", sku="A", location="west", quantity=10, reference="po"),
        SetCreditLimit(
            command_id="l1", customer_id="net", limit_cents=10_000, payment_terms="net-30"
        ),
        SetCreditLimit(command_id="l2", customer_id="pre", limit_cents=0, payment_terms="prepaid"),
    ]
    orders: list[AnyCommand] = [
        _order(1, "net", "net-30", ("A", 5)),  # split east + west, within the limit
        _order(2, "net", "net-30", ("A", 5)),  # exposure 10,000: at the limit
        _order(3, "net", "net-30", ("A", 1)),  # 11,000: in the tolerance band
        _order(4, "net", "net-30", ("A", 2)),  # 12,000: over it
        _order(5, "pre", "prepaid", ("A", 1)),  # awaits its payment
        _order(6, "net", "net-30", ("A", 50)),  # not enough stock anywhere
        _order(7, "net", "net-30", ("B", 1)),  # no such SKU
        _order(8, "nobody", "net-30", ("A", 1)),  # no credit account
        _order(9, "net", "net-30", ("A", 1), order=1),  # order o1 again, by a new command
    ]
    engine = _engine(tmp_path / "engine.db")
    engine.submit(setup)
    expected = [_status(answer) for answer in engine.submit(orders)]
    assert expected == [
        "confirmed",
        "confirmed",
        "credit_held",
        "rejected",
        "credit_held",
        "rejected",
        "rejected",
        "rejected",
        "duplicate",
    ]
    assert run_peer(str(tmp_path / "peer.db"), setup + orders)[len(setup) :] == expected
