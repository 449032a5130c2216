"""Replaying the whole embedded store into a fresh stock core, two ways side by side:
the commit-at-a-time path replays use, and eventsourcing's notification pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.persistence import ApplicationRecorder
from pytest_benchmark.fixture import BenchmarkFixture

from bench.conftest import Record, per_second
from bench.workload import stock_commits
from engine.codec import decode
from engine.replay import replay_stock
from engine.stock._core import StockCore
from engine.stock.events import StockEvent
from engine.store import open_factory

EVENTS_PER_COMMIT = 10_000
COMMITS = 30


@pytest.fixture(scope="module")
def filled_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApplicationRecorder]:
    path = tmp_path_factory.mktemp("replay") / "store.db"
    factory = open_factory(f"sqlite:///{path}")
    recorder = factory.application_recorder()
    for stored in stock_commits(EVENTS_PER_COMMIT, COMMITS):
        recorder.insert_events(stored)
    yield recorder
    factory.close()


def _replay_by_notifications(recorder: ApplicationRecorder, core: StockCore) -> int:
    applied = last = 0
    while page := recorder.select_notifications(last, 50_000, inclusive_of_start=False):
        payloads: list[StockEvent] = [decode(n.state).data for n in page]  # type: ignore[misc]
        core.apply(payloads)
        applied += len(payloads)
        last = page[-1].id
    return applied


@pytest.mark.parametrize("path", ["commits", "notifications"])
def test_replay_store_into_stock_core(
    benchmark: BenchmarkFixture, filled_store: ApplicationRecorder, path: str, figure: Record
) -> None:
    replay = replay_stock if path == "commits" else _replay_by_notifications
    benchmark.group = "replay the whole store into the stock core"
    cores: list[StockCore] = []

    def run() -> int:
        cores.append(StockCore())
        return replay(filled_store, cores[-1])

    applied = benchmark.pedantic(run, rounds=3, iterations=1)
    assert applied == EVENTS_PER_COMMIT * COMMITS
    cores[-1].check_invariants()
    rate = per_second(benchmark, applied)
    if rate is not None:
        figure(f"replay into stock core, {path}", rate, "events/s", ">= 1,000,000")
