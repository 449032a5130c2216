"""The engine end to end on the embedded store: the flow workload's orders per second
side by side with the same workload on eventsourcing's own Application, and the
time a restart takes to rebuild a million events of state: by replaying them
all, and from a snapshot as of the last of them.

Flow: orders of three lines from customers with ample credit on net terms,
with plentiful stock, so every order reserves, passes credit and confirms
(`engine.simulator.flow_workload`). Each round starts on a fresh store with
the set-up already committed; only the orders are timed, durable on disk.
The peer is an order of magnitude slower, so it runs fewer orders and the
figures compare rates.

With `--benchmark-disable` every size shrinks, so the file doubles as a fast test.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from eventsourcing.persistence import AggregateRecorder, ApplicationRecorder, InfrastructureFactory
from pytest_benchmark.fixture import BenchmarkFixture

from bench.conftest import Record, per_second
from bench.peer_eventsourcing import PeerStorefront
from engine import snapshot
from engine.commands import AnyCommand, PlaceOrder
from engine.engine import Answer, Engine
from engine.events import OrderConfirmed
from engine.simulator import flow_workload
from engine.store import open_factory

# (timed, with --benchmark-disable)
ENGINE_ORDERS: Final = (20_000, 1_000)
PEER_ORDERS: Final = (1_000, 100)
RESTART_ORDERS: Final = (100_000, 1_000)  # ten events an order: a million events
COMMANDS_PER_SUBMIT: Final = 1_000
BUILD_COMMANDS_PER_SUBMIT: Final = 10_000
SNAPSHOTS: Final = "snapshots"  # the snapshot recorder's name, as `stockledger submit` has it

_rates: dict[str, float] = {}
_stores = itertools.count()


def _size(sizes: tuple[int, int], disabled: bool) -> int:
    return sizes[1] if disabled else sizes[0]


def _submit_all(engine: Engine, commands: list[AnyCommand], size: int) -> list[Answer]:
    answers: list[Answer] = []
    for start in range(0, len(commands), size):
        answers += engine.submit(commands[start : start + size])
    return answers


def _engine_round(directory: Path, setup: list[AnyCommand]) -> Engine:
    recorder = open_factory(
        f"sqlite:///{directory}/engine-{next(_stores)}.db"
    ).application_recorder()
    engine = Engine.open(recorder)
    _submit_all(engine, setup, BUILD_COMMANDS_PER_SUBMIT)
    return engine


def _peer_round(directory: Path, setup: list[AnyCommand]) -> PeerStorefront:
    peer = PeerStorefront(str(directory / f"peer-{next(_stores)}.db"))
    for command in setup:
        peer.handle(command)
    return peer


def _record_rates(benchmark: BenchmarkFixture, system: str, orders: int, figure: Record) -> None:
    rate = per_second(benchmark, orders)
    if rate is None:
        return
    _rates[system] = rate
    if system == "stockledger":
        figure("engine flow, stockledger", rate, "orders/s", ">= 10,000")
        return
    figure("engine flow, eventsourcing peer", rate, "orders/s", "")
    if "stockledger" in _rates:
        figure("engine flow, stockledger / peer", _rates["stockledger"] / rate, "x", ">= 10x")


def test_flow_stockledger(benchmark: BenchmarkFixture, tmp_path: Path, figure: Record) -> None:
    benchmark.group = "flow: orders placed to confirmed, durable"
    orders_count = _size(ENGINE_ORDERS, benchmark.disabled)
    setup, orders = flow_workload(orders_count)

    def fresh() -> tuple[tuple[Engine], dict[str, Any]]:
        return (_engine_round(tmp_path, setup),), {}

    def place(engine: Engine) -> list[Answer]:
        return _submit_all(engine, orders, COMMANDS_PER_SUBMIT)

    answers = benchmark.pedantic(place, setup=fresh, rounds=3, iterations=1)
    assert len(answers) == orders_count
    assert all(type(answer.events[-1].data) is OrderConfirmed for answer in answers)
    _record_rates(benchmark, "stockledger", orders_count, figure)


def test_flow_eventsourcing_peer(
    benchmark: BenchmarkFixture, tmp_path: Path, figure: Record
) -> None:
    benchmark.group = "flow: orders placed to confirmed, durable"
    orders_count = _size(PEER_ORDERS, benchmark.disabled)
    setup, orders = flow_workload(orders_count)
    peers: list[PeerStorefront] = []

    def fresh() -> tuple[tuple[PeerStorefront], dict[str, Any]]:
        peers.append(_peer_round(tmp_path, setup))
        return (peers[-1],), {}

    def place(peer: PeerStorefront) -> list[str]:
        return [peer.handle(order) for order in orders]

    outcomes = benchmark.pedantic(place, setup=fresh, rounds=3, iterations=1)
    for peer in peers:
        peer.close()
    assert outcomes == ["confirmed"] * orders_count
    _record_rates(benchmark, "eventsourcing peer", orders_count, figure)


@pytest.fixture(scope="module")
def full_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, PlaceOrder, int]]:
    """(store URL, the last order placed, events stored): built once, in big submits,
    with a snapshot of the engine as of the store's last event beside it."""
    disabled = bool(request.config.getoption("benchmark_disable"))
    setup, orders = flow_workload(_size(RESTART_ORDERS, disabled))
    url = f"sqlite:///{tmp_path_factory.mktemp('restart')}/store.db"
    factory = open_factory(url)
    recorder = factory.application_recorder()
    engine = Engine.open(recorder)
    _submit_all(engine, setup + orders, BUILD_COMMANDS_PER_SUBMIT)
    snapshot.save(engine, factory.aggregate_recorder(SNAPSHOTS))
    last = orders[-1]
    assert isinstance(last, PlaceOrder)
    yield url, last, recorder.max_notification_id() or 0
    factory.close()


@pytest.mark.parametrize("start", ["full replay", "from snapshot"])
def test_restart(
    benchmark: BenchmarkFixture,
    full_store: tuple[str, PlaceOrder, int],
    start: str,
    figure: Record,
) -> None:
    """From opening the store to the answer of a command (a retry of the last order):
    replaying every event, or restoring the snapshot and replaying what follows it."""
    benchmark.group = "restart: open the engine on a full store"
    url, last, events = full_store
    factories: list[InfrastructureFactory[Any]] = []

    def fresh() -> tuple[tuple[ApplicationRecorder, AggregateRecorder | None], dict[str, Any]]:
        factories.append(open_factory(url))
        snapshots = factories[-1].aggregate_recorder(SNAPSHOTS)
        return (
            factories[-1].application_recorder(),
            snapshots if start != "full replay" else None,
        ), {}

    def restart(recorder: ApplicationRecorder, snapshots: AggregateRecorder | None) -> Answer:
        (answer,) = Engine.open(recorder, snapshots=snapshots).submit([last])
        return answer

    answer = benchmark.pedantic(restart, setup=fresh, rounds=3, iterations=1)
    for factory in factories:
        factory.close()
    assert answer.retry
    assert type(answer.events[-1].data) is OrderConfirmed
    if not benchmark.disabled and benchmark.stats is not None:
        seconds = benchmark.stats.stats.median
        figure(f"engine restart, {events:,} events, {start}", seconds * 1_000, "ms", "<= 2,000 ms")
