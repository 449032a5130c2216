"""The projection runner as a consumer: every read model, caught up and kept up.

`projections.runner` does the work (checkpoints in the rows' transaction,
idempotent batches); this is the long-running process around it. A
projection is a pure fold, so an event it cannot fold is a bug to fix and
rebuild from, not a dead letter: the runner stops loudly on it.

Following, a `ProjectionsWorker` works each partition: the one partition of
`consumers.partition`, or each one a consumer group assigns (`consumers.group`).
It is the same catch-up, cut short after a batch has committed when it is told
to stop, or the partition's turn is over, or the group took it away.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Final

from eventsourcing.persistence import ApplicationRecorder

from projections import select
from projections.db import Database
from projections.projection import Projection
from projections.runner import BATCH_EVENTS_MAX, catch_up, ensure_schema, partition_of

__all__ = ["POLL_S", "ProjectionsWorker", "run_projections"]

POLL_S: Final = 0.2


def run_projections(db: Database, recorder: ApplicationRecorder) -> int:
    """Catch every projection up once; the events applied. Following is `ProjectionsWorker`'s,
    in `consumers.partition` or `consumers.group`."""
    return catch_up(db, recorder, select())


class _TurnOverError(Exception):
    """Raised from the catch-up's progress hook, after a batch's commit, to end a turn."""


class ProjectionsWorker:
    """Every read model over one partition of the store, for a consumer group."""

    def __init__(
        self,
        db: Database,
        recorder: ApplicationRecorder,
        projections: Sequence[Projection] | None = None,
        *,
        events_max: int = BATCH_EVENTS_MAX,
    ) -> None:
        self.db = db
        self.recorder = recorder
        self.projections = select() if projections is None else projections
        self.events_max = events_max
        ensure_schema(db, self.projections, partition_of(recorder))

    def run_while(self, keep_going: Callable[[], bool]) -> int:
        """Catch up until nothing is new or `keep_going()`, asked after each batch,
        is false; the batches committed."""
        batches = 0

        def progress(_last: int) -> None:
            nonlocal batches
            batches += 1
            if not keep_going():
                raise _TurnOverError

        with suppress(_TurnOverError):
            catch_up(
                self.db,
                self.recorder,
                self.projections,
                events_max=self.events_max,
                progress=progress,
                schema=False,
            )
        return batches
