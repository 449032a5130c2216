"""`stockledger consume`: --once catches up and exits; following, SIGTERM stops it cleanly;
on a Kafka store two processes of one consumer share the partitions, and one takes over
the other's when it stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from consumers.group import SETTLE_TIMEOUT_MS, default_group
from engine.cli import app
from engine.events import LinesShipped
from tests.consumers.conftest import (
    STORE_PARTITIONS,
    Json,
    KafkaStore,
    Served,
    credit,
    place,
    slot,
)
from tests.engine.http.server import TOKEN

STOCKLEDGER = str(Path(sys.executable).with_name("stockledger"))
# Long enough for a member that kafka-python left without an assignment to
# join again (after `SETTLE_TIMEOUT_MS`, see consumers/group.py) and go on.
WAIT_S = SETTLE_TIMEOUT_MS / 1000 + 60


def test_consume_follows_until_sigterm_and_a_restart_resumes(served: Served) -> None:
    served.post([*slot("sku-a", 30), credit("c1", 10_000_000), place("o-1", "c1", "sku-a", 3)])
    options = ["--store", served.store_url, "--db", served.db.url, "--intake", served.url]
    env = {**os.environ, "STOCKLEDGER_API_TOKEN": TOKEN}
    process = subprocess.Popen(
        [STOCKLEDGER, "consume", "logistics", *options],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + WAIT_S
        while not any(isinstance(e.data, LinesShipped) for e in served.events()):
            assert time.monotonic() < deadline, "the consumer shipped nothing"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=WAIT_S)
    assert process.returncode == 0, output
    assert b"pick list w1: o-1: sku-a x 3 -> ship-o-1-w1" in output

    served.post([place("o-2", "c1", "sku-a", 2)])
    once = subprocess.run(
        [STOCKLEDGER, "consume", "logistics", *options, "--once"],
        env=env,
        capture_output=True,
        check=True,
        timeout=WAIT_S,
    )
    assert b"ship-o-2-w1" in once.stdout
    assert b"ship-o-1-w1" not in once.stdout, "resumed from the checkpoint"
    shipped = [e.data.order_id for e in served.events() if isinstance(e.data, LinesShipped)]
    assert shipped == ["o-1", "o-2"]


class Consuming:
    """A `stockledger consume` process; its output lines are collected as they come."""

    def __init__(self, args: list[str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [STOCKLEDGER, "consume", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def owned(self, group: str) -> str | None:
        """The partitions of its last membership line, as `0, 1`, `0` or `none`."""
        heads = [line for line in self.lines if line.startswith(f"group {group}: partitions ")]
        return heads[-1].split(": partitions ", 1)[1] if heads else None

    def alerted(self, sku: str) -> bool:
        return any(line.startswith(f"low stock: {sku}@w1 ") for line in self.lines)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(WAIT_S)
        self._reader.join(WAIT_S)
        return code


def _until(what: str, done: Callable[[], bool], processes: list[Consuming]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        for process in processes:
            assert process.process.poll() is None, "\n".join(process.lines)
        assert time.monotonic() < deadline, f"waited {WAIT_S} s for {what}"
        time.sleep(0.05)


def _short(sku: str) -> list[Json]:
    """A slot with less on hand than its safety stock: the alerts consumer flags it."""
    return slot(sku, 3, safety_stock=5)


def test_two_consume_processes_share_a_kafka_store_and_one_takes_over_when_stopped(
    kafka_store: KafkaStore, tmp_path: Path
) -> None:
    options = ["alerts", "--store", kafka_store.url, "--db", f"sqlite:///{tmp_path / 'rm.db'}"]
    group = default_group(kafka_store.prefix, "alerts")
    for partition in range(STORE_PARTITIONS):
        kafka_store.submit(partition, _short(f"sku-p{partition}-a"))
    first = Consuming(options)
    processes = [first]
    try:
        _until(
            "the first process to alert on both partitions",
            lambda: first.alerted("sku-p0-a") and first.alerted("sku-p1-a"),
            processes,
        )
        assert first.owned(group) == "0, 1"
        second = Consuming(options)
        processes.append(second)
        _until(
            "a partition each",
            lambda: {first.owned(group), second.owned(group)} == {"0", "1"},
            processes,
        )
        owner = {int(p.owned(group) or ""): p for p in processes}
        for partition in range(STORE_PARTITIONS):
            kafka_store.submit(partition, _short(f"sku-p{partition}-b"))
        _until(
            "each partition's alert from its owner",
            lambda: all(owner[p].alerted(f"sku-p{p}-b") for p in range(STORE_PARTITIONS)),
            processes,
        )
        assert second.stop() == 0, "\n".join(second.lines)
        assert second.owned(group) == "none"
        _until("the first process to own both again", lambda: first.owned(group) == "0, 1", [first])
        for partition in range(STORE_PARTITIONS):
            kafka_store.submit(partition, _short(f"sku-p{partition}-c"))
        _until(
            "the first process to alert on both partitions again",
            lambda: first.alerted("sku-p0-c") and first.alerted("sku-p1-c"),
            [first],
        )
    finally:
        codes = [p.stop() for p in processes if p.process.poll() is None]
    assert codes == [0], "\n".join(first.lines)
    flagged = {f"sku-p{p}-{n}" for p in range(STORE_PARTITIONS) for n in "abc"}
    every = [line for p in processes for line in p.lines if line.startswith("low stock: ")]
    assert sorted(line.split()[2].removesuffix("@w1") for line in every) == sorted(flagged)


def test_consume_names_what_is_wrong_with_a_group_on_a_store_without_groups(
    tmp_path: Path,
) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(app, ["consume", "alerts", "--store", store, "--group", "g"])
    assert result.exit_code == 2
    assert "drop --group" in _unboxed(result.output)
    kafka = "kafka://127.0.0.1:9?partition=1"
    result = CliRunner().invoke(app, ["consume", "projections", "--store", kafka, "--group", "g"])
    assert result.exit_code == 2
    assert "drop partition= from the URL" in _unboxed(result.output)


def _unboxed(output: str) -> str:
    """An error's words as one line, out of the box Rich wraps them in."""
    return " ".join(output.replace("│", " ").split())
