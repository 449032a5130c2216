"""Graceful stop for the long-running commands (`run`, `consume`, `project run --follow`)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event SIGTERM and SIGINT set, so a loop ends after the batch in hand;
    the previous handlers are put back on exit."""
    stop = threading.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in signals}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
