"""SIGKILL a writer mid-stream: every acknowledged commit survives whole, nothing partial shows."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from eventsourcing.persistence import StoredEvent

from engine.store import open_factory


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_killed_writer_loses_no_acknowledged_commit(tmp_path: Path, seed: int) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    kill_after = random.Random(seed).randint(20, 400)
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.store.crash_writer", url],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    acknowledged = -1
    for line in writer.stdout:
        acknowledged = int(line)
        if acknowledged >= kill_after:
            break
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert acknowledged == kill_after

    recorder = open_factory(url).application_recorder()
    markers = recorder.select_events("commits")
    # The writer may have committed more before the kill landed, never fewer.
    assert len(markers) >= acknowledged + 1
    assert [m.originator_version for m in markers] == list(range(1, len(markers) + 1))

    sizes = Counter(
        int(str(n.originator_id).split("-")[1])
        for n in recorder.select_notifications(None, 10**6, topics=["crash"])
    )
    for marker in markers:
        k = marker.originator_version - 1
        assert sizes.pop(k) == int(marker.state), f"commit {k} is not whole"
    assert not sizes, f"events of commits without a marker: {sorted(sizes)}"
    # The reopened store goes on from where the acknowledged history ends.
    next_version = len(markers) + 1
    assert recorder.insert_events([StoredEvent("commits", next_version, "marker", b"0")])
