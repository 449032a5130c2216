"""One process on one partition of the store: the embedded store, or a Kafka URL naming
`partition=N`. Consumer groups (`consumers.group`) share the partitions instead.

The loop: open the store at its partition and start the worker over it;
batches until nothing is new, then wait `poll_s`; again until stopped. A
transient failure (`consumers.recovery.transient`) closes the store, waits
(`Backoff`) and starts over from the opening, once the broker answers again
(`check_broker`): the worker resumes from its SQL checkpoint. Anything else
ends the run with its error.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

from eventsourcing.persistence import ApplicationRecorder

from consumers.group import Worker
from consumers.recovery import Backoff, ride_out
from engine.store import open_factory

__all__ = ["PartitionRunner"]


class PartitionRunner:
    """Runs `start(recorder)`'s worker over the store at `store_url` until stopped."""

    def __init__(
        self,
        store_url: str,
        start: Callable[[ApplicationRecorder], Worker],
        *,
        out: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
        backoff: Backoff | None = None,
    ) -> None:
        self.store_url = store_url
        self.start = start
        self.backoff = backoff or Backoff(f"store {store_url}", out)

    def run(self, *, stop: threading.Event, poll_s: float) -> None:
        """Follow the store until `stop` is set, riding out transient failures."""
        ride_out(lambda: self._follow(stop, poll_s), self.backoff, stop, store_url=self.store_url)

    def _follow(self, stop: threading.Event, poll_s: float) -> None:
        factory = open_factory(self.store_url)
        try:
            worker = self.start(factory.application_recorder())
            while not stop.is_set():
                done = worker.run_while(lambda: not stop.is_set())
                # The store answered, even if with nothing new.
                self.backoff.recovered()
                if not done:
                    stop.wait(poll_s)
        finally:
            factory.close()
