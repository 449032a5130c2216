"""The cyclic garbage collector paused around work that builds objects and no cycles."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused(*, freeze: bool = False) -> Iterator[None]:
    """No collection inside; the collector runs again after, if it ran before.

    Work that builds many long-lived objects and no reference cycles (a batch,
    a restore, a rebuild) would otherwise have each pass rescan all it built to
    find no garbage. `freeze`, on success, moves everything alive into the
    permanent generation (`gc.freeze`), so the first collection afterwards does
    not scan it all either (measured: a third of a restore's time).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
        if freeze:
            gc.freeze()
    finally:
        if collecting:
            gc.enable()
