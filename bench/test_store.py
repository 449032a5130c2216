"""Embedded store: commits of 1,000 events, durable on commit, against eventsourcing's
own SQLite recorder storing the same events, side by side in one run."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.sqlite import SQLiteFactory as EventsourcingSQLiteFactory
from pytest_benchmark.fixture import BenchmarkFixture

from bench.conftest import Record, per_second
from bench.workload import stock_commits
from engine.store.sqlite import SQLiteFactory

EVENTS_PER_COMMIT = 1_000
ROUNDS = 40

PEERS: dict[str, Any] = {
    "eventsourcing-sqlite": EventsourcingSQLiteFactory,
    "stockledger-sqlite": SQLiteFactory,
}


@pytest.fixture(params=list(PEERS))
def peer(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, ApplicationRecorder]]:
    factory = PEERS[request.param](
        {"SQLITE_DBNAME": str(tmp_path / "store.db"), "ORIGINATOR_ID_TYPE": "text"}
    )
    yield request.param, factory.application_recorder()
    factory.close()


def test_insert_commits_of_1000_events(
    benchmark: BenchmarkFixture, peer: tuple[str, ApplicationRecorder], figure: Record
) -> None:
    name, recorder = peer
    commits: Iterator[list[StoredEvent]] = iter(stock_commits(EVENTS_PER_COMMIT, ROUNDS + 1))
    written = itertools.count(1)

    def insert() -> None:
        recorder.insert_events(next(commits))
        next(written)

    benchmark.group = "store: insert commits of 1,000 events (durable)"
    benchmark.pedantic(insert, rounds=ROUNDS, iterations=1)
    assert recorder.max_notification_id() == EVENTS_PER_COMMIT * (next(written) - 1)
    rate = per_second(benchmark, EVENTS_PER_COMMIT)
    if rate is not None:
        figure(f"store insert, {name}", rate, "events/s", ">= 3x eventsourcing-sqlite")
