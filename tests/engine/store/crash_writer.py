"""A writer that commits until it is killed, acknowledging each commit on stdout.

Run as `python -m tests.engine.store.crash_writer STORE_URL`. Commit k holds
k % 50 + 1 events: one per stream `crash-k-i`, version 1, plus a marker event
on stream `commits` at version k + 1 whose state is the commit's size.
"""

from __future__ import annotations

import sys

from eventsourcing.persistence import StoredEvent

from engine.store import open_factory


def main(url: str) -> None:
    recorder = open_factory(url).application_recorder()
    k = 0
    while True:
        size = k % 50 + 1
        events = [StoredEvent(f"crash-{k}-{i}", 1, "crash", b"x" * 200) for i in range(size)]
        events.append(StoredEvent("commits", k + 1, "marker", str(size).encode()))
        recorder.insert_events(events)
        print(k, flush=True)
        k += 1


if __name__ == "__main__":
    main(sys.argv[1])
