"""`stockledger consume`: --once catches up and exits; following, SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.events import LinesShipped
from tests.consumers.conftest import Served, credit, place, slot
from tests.engine.http.server import TOKEN

STOCKLEDGER = str(Path(sys.executable).with_name("stockledger"))
WAIT_S = 60.0


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
