"""SIGKILL the engine at random points; restarted, it ends with the very events of a clean run."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

import msgspec

from engine.commands import (
    AdvanceClock,
    AnyCommand,
    CancelOrder,
    CommandLine,
    ConfigureSlot,
    PlaceOrder,
    ReceiveStock,
    SetCreditLimit,
    ShipLines,
    SkuQuantity,
    json_encoder,
)
from engine.events import ShipTo
from engine.store import open_factory
from engine.store.sqlite import SQLiteApplicationRecorder

SHIP_TO = ShipTo(name="A", street="1 Road", city="Town", postal_code="1", country="DE")
SKUS = [f"SKU-{i}" for i in range(12)]


def workload(seed: int, orders: int) -> list[AnyCommand]:
    """Orders that fill, exhaust and free stock, with credit holds, cancels, ships and expiry."""
    rng = random.Random(seed)
    commands: list[AnyCommand] = []
    for sku in SKUS:
        commands.append(ConfigureSlot(command_id=f"cfg-{sku}", sku=sku, location="w1"))
        commands.append(
            ReceiveStock(
                command_id=f"rcv-{sku}", sku=sku, location="w1", quantity=40, reference="po"
            )
        )
    for c in range(8):
        terms = "prepaid" if c == 7 else "net-30"
        commands.append(
            SetCreditLimit(
                command_id=f"lim-{c}",
                customer_id=f"cu{c}",
                limit_cents=rng.choice([2_000, 50_000]),
                payment_terms=terms,
            )
        )
    clock = 0
    for n in range(orders):
        lines = tuple(
            CommandLine(sku, rng.randint(1, 4), 150) for sku in rng.sample(SKUS, rng.randint(1, 3))
        )
        commands.append(
            PlaceOrder(
                command_id=f"po-{n}",
                order_id=f"o{n}",
                customer_id=f"cu{rng.randrange(8)}",
                channel="web",
                payment_terms="net-30",
                ship_to=SHIP_TO,
                lines=lines,
            )
        )
        roll = rng.random()
        if roll < 0.15:
            commands.append(
                CancelOrder(command_id=f"cx-{n}", order_id=f"o{n}", reason="changed mind")
            )
        elif roll < 0.5:
            ship = tuple(SkuQuantity(line.sku, line.quantity) for line in lines)
            commands.append(
                ShipLines(
                    command_id=f"sh-{n}",
                    order_id=f"o{n}",
                    shipment_id="s1",
                    location="w1",
                    lines=ship,
                )
            )
        if n % 25 == 24:
            clock += 600
            commands.append(AdvanceClock(command_id=f"clk-{n}", now=clock))
            commands.append(
                ReceiveStock(
                    command_id=f"rs-{n}",
                    sku=rng.choice(SKUS),
                    location="w1",
                    quantity=30,
                    reference=f"po-{n}",
                )
            )
    return commands


def stored(url: str) -> list[tuple[str, int, str, str, bytes]]:
    """Each event as what must match: stream, version, topic, command, payload."""
    recorder = open_factory(url).application_recorder()
    assert isinstance(recorder, SQLiteApplicationRecorder)
    from engine.codec import decode

    events = []
    for n in recorder.select_notifications(None, 10**7):
        envelope = decode(n.state)
        payload = msgspec.msgpack.encode(envelope.data)
        events.append(
            (envelope.stream_id, envelope.version, n.topic, str(envelope.causation_id), payload)
        )
    return events


def run(url: str, commands: Path, kill_after_batches: int | None) -> bool:
    """One engine process; True when it finished, False when it was killed mid-run."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.engine_runner", url, str(commands), "7"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for seen, line in enumerate(process.stdout):
        if line.strip() == "done":
            process.wait()
            return True
        if kill_after_batches is not None and seen >= kill_after_batches:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return False
    process.wait()
    return False


def test_killed_and_restarted_engine_writes_what_a_clean_run_writes(tmp_path: Path) -> None:
    commands = tmp_path / "commands.jsonl"
    commands.write_bytes(b"\n".join(json_encoder.encode(c) for c in workload(seed=3, orders=2000)))
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    assert run(clean, commands, None)

    crashed = f"sqlite:///{tmp_path / 'crashed.db'}"
    rng = random.Random(11)
    # Each run resends everything, so later kills land later in the history.
    for kill in range(1, 6):
        assert not run(crashed, commands, rng.randint(20, 60) * kill)
    assert run(crashed, commands, None)
    assert stored(crashed) == stored(clean)
