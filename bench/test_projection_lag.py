"""Projection lag during the demo workload at half the engine's maximum rate, in seconds.

1. The maximum rate: the demo workload (`engine.simulator.run`, the `stockledger
   demo` storefront) on a fresh embedded store, unpaced, in orders per second.
2. A fresh store, and `stockledger consume projections` following it as a
   subprocess into a SQLite read-model database, as it is deployed.
3. The same workload paced at half that rate: the storefront submits a batch,
   then sleeps until the events committed so far are due at half the maximum
   run's events per second. Paced by events, not orders, so the batches of
   follow-ups alone (the run's tail places no orders) are paced too; over the
   run it is half the orders per second. Each batch is committed when
   `Engine.submit` returns; the store's head then is its last notification id.
   The first batch (set-up, no orders) also waits for the runner to be up,
   and is not counted.
4. Meanwhile a thread reads the read-model database every `SAMPLE_S`: the
   lowest checkpoint of all projections, and when it moved.
5. A batch's lag is from its commit to the first sample at or past its last
   notification id; the figures are the max and p99 over the batches. A
   sample is late by at most `SAMPLE_S` plus one query; the runner itself
   polls the store every `consumers.projection_runner.POLL_S`.

With `--benchmark-disable` the workload is small, so the file doubles as a fast test.
"""

from __future__ import annotations

import itertools
import statistics
import subprocess
import sys
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from eventsourcing.persistence import ApplicationRecorder
from pytest_benchmark.fixture import BenchmarkFixture

from bench.conftest import Record
from engine.engine import Engine
from engine.simulator import SimulatorSettings, Storefront, run
from engine.store import open_factory
from projections import PROJECTIONS
from projections.db import Database
from projections.runner import CHECKPOINTS_TABLE

# (timed, with --benchmark-disable)
ORDERS: Final = (10_000, 300)
ROUNDS: Final = (3, 1)
PACE_FRACTION: Final = 0.5
SAMPLE_S: Final = 0.005
# How long the runner may take to start, or to reach the last batch, before the run fails.
WAIT_S: Final = 120.0
STOCKLEDGER: Final = str(Path(sys.executable).with_name("stockledger"))


def _settings(orders: int) -> SimulatorSettings:
    return SimulatorSettings(orders=orders, customers=max(20, orders // 25), skus=200)


def _recorder(path: Path) -> ApplicationRecorder:
    return open_factory(f"sqlite:///{path}").application_recorder()


@dataclass
class _Checkpoints:
    """The lowest checkpoint of every projection and when it was first seen, read by a thread."""

    db_url: str
    times: list[float] = field(default_factory=list)
    lowest: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        names = list(PROJECTIONS)
        query = (
            f"SELECT COUNT(*), MIN(notification_id) FROM {CHECKPOINTS_TABLE} "
            f"WHERE partition = 0 AND projection IN ({', '.join('?' * len(names))})"
        )
        with Database(self.db_url) as db:
            while not self.stop.wait(SAMPLE_S):
                if not db.table_exists(CHECKPOINTS_TABLE):
                    continue
                count, lowest = db.execute(query, names)[0]
                if count == len(names) and (not self.lowest or lowest > self.lowest[-1]):
                    self.times.append(time.perf_counter())
                    self.lowest.append(int(lowest))

    def reached(self, notification_id: int) -> float | None:
        """When every projection first stood at or past `notification_id`."""
        at = bisect_left(self.lowest, notification_id)
        return self.times[at] if at < len(self.lowest) else None

    def wait_for(self, notification_id: int, runner: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + WAIT_S
        while self.reached(notification_id) is None:
            if runner.poll() is not None:
                output = runner.stdout.read().decode() if runner.stdout else ""
                raise AssertionError(f"the projection runner exited: {output}")
            assert time.monotonic() < deadline, f"projections never reached {notification_id}"
            time.sleep(SAMPLE_S)


@contextmanager
def _following(store: Path, db_url: str) -> Iterator[tuple[_Checkpoints, subprocess.Popen[bytes]]]:
    """`stockledger consume projections` on `store`, and a thread sampling its checkpoints."""
    runner = subprocess.Popen(
        [STOCKLEDGER, "consume", "projections", "--store", f"sqlite:///{store}", "--db", db_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    checkpoints = _Checkpoints(db_url)
    sampler = threading.Thread(target=checkpoints.sample)
    sampler.start()
    try:
        yield checkpoints, runner
    finally:
        checkpoints.stop.set()
        sampler.join()
        runner.terminate()
        runner.communicate(timeout=WAIT_S)


@dataclass(frozen=True)
class _Paced:
    """Each counted batch's (commit time, last notification id); the rates the run held."""

    commits: list[tuple[float, int]]
    orders_per_s: float
    events_per_s: float


def _paced(
    engine: Engine,
    settings: SimulatorSettings,
    events_per_s: float,
    checkpoints: _Checkpoints,
    runner: subprocess.Popen[bytes],
) -> _Paced:
    storefront = Storefront(settings)
    first = storefront.next_batch()
    assert first is not None
    storefront.observe(engine.submit(first))
    assert storefront.orders_placed == 0, "the first batch is the set-up"
    start = engine.recorder.max_notification_id() or 0
    checkpoints.wait_for(start, runner)

    commits = []
    last = start
    began = time.perf_counter()
    while (batch := storefront.next_batch()) is not None:
        storefront.observe(engine.submit(batch))
        committed = time.perf_counter()
        last = engine.recorder.max_notification_id() or 0
        commits.append((committed, last))
        time.sleep(max(0.0, began + (last - start) / events_per_s - committed))
    seconds = time.perf_counter() - began
    return _Paced(commits, storefront.orders_placed / seconds, (last - start) / seconds)


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def test_projection_lag_at_half_the_maximum_rate(
    benchmark: BenchmarkFixture, tmp_path: Path, figure: Record
) -> None:
    benchmark.group = "projections: lag behind the engine at half its maximum rate"
    orders = ORDERS[1] if benchmark.disabled else ORDERS[0]
    settings = _settings(orders)
    stores = itertools.count()
    seconds: list[float] = []
    events: list[int] = []

    def fresh() -> tuple[tuple[Engine], dict[str, object]]:
        return (Engine.open(_recorder(tmp_path / f"max-{next(stores)}.db")),), {}

    def unpaced(engine: Engine) -> None:
        began = time.perf_counter()
        events.append(run(engine, settings).events)
        seconds.append(time.perf_counter() - began)

    rounds = ROUNDS[1] if benchmark.disabled else ROUNDS[0]
    benchmark.pedantic(unpaced, setup=fresh, rounds=rounds, iterations=1)
    median_s = statistics.median(seconds)
    maximum = orders / median_s
    maximum_events = events[0] / median_s

    store, db_url = tmp_path / "paced.db", f"sqlite:///{tmp_path}/readmodels.db"
    engine = Engine.open(_recorder(store))
    with _following(store, db_url) as (checkpoints, runner):
        paced = _paced(engine, settings, maximum_events * PACE_FRACTION, checkpoints, runner)
        checkpoints.wait_for(paced.commits[-1][1], runner)
    lags = []
    for committed, last in paced.commits:
        reached = checkpoints.reached(last)
        assert reached is not None
        lags.append(max(0.0, reached - committed))

    assert len(lags) > 10
    with Database(db_url) as db:
        assert db.execute("SELECT COUNT(*) FROM order_ledger")[0][0] == orders
    if not benchmark.disabled:
        figure("demo workload, maximum rate (embedded store)", maximum, "orders/s", "")
        figure("demo workload, maximum rate (events)", maximum_events, "events/s", "")
        figure("demo workload, paced (half the maximum)", paced.orders_per_s, "orders/s", "")
        figure("demo workload, paced (events)", paced.events_per_s, "events/s", "")
        figure("projection lag at half the maximum rate, max", max(lags), "s", "<= 1 s")
        figure("projection lag at half the maximum rate, p99", _p99(lags), "s", "<= 1 s")
