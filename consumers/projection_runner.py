"""The projection runner as a consumer: every read model, caught up and kept up.

`projections.runner` does the work (checkpoints in the rows' transaction,
idempotent batches); this is the long-running process around it. A
projection is a pure fold, so an event it cannot fold is a bug to fix and
rebuild from, not a dead letter: the runner stops loudly on it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final

from eventsourcing.persistence import ApplicationRecorder

from projections import select
from projections.db import Database
from projections.runner import catch_up, follow

__all__ = ["POLL_S", "run_projections"]

POLL_S: Final = 0.2


def run_projections(
    db: Database,
    recorder: ApplicationRecorder,
    *,
    stop: threading.Event | None,
    progress: Callable[[int], None] | None = None,
    poll_s: float = POLL_S,
) -> int:
    """Catch every projection up; then, given `stop`, follow until it is set.

    Returns the events the first catch-up applied.
    """
    projections = select()
    applied = catch_up(db, recorder, projections, progress=progress)
    if stop is not None:
        follow(db, recorder, projections, poll_s=poll_s, stop=stop, progress=progress)
    return applied
