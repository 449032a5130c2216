"""What a consumer is, and the loop that runs one over a store.

A consumer reads the engine's events after its checkpoint and decides:
commands for the engine (through a `CommandSink`) and rows of its own in
the read-model database. It never writes events. One batch, in order:

1. read at most `batch_notifications_max` notifications after the checkpoint
   (kept like a projection's, per store partition, named `consumer:<name>`);
2. catch up the read models the consumer reads (`Consumer.reads`), so they
   are at or past the batch's last notification;
3. decode and handle each event; an event that does not decode, or whose
   handler raises, becomes a dead letter and the batch goes on;
4. send the batch's commands to the sink; if it fails, stop here: nothing is
   checkpointed and the batch is handled and sent again (the commands' ids
   make the engine answer a resend as a retry);
5. in one transaction: move the checkpoint from where step 1 found it to the
   batch's last notification, then the consumer's rows and the dead letters.
   If the checkpoint is no longer where step 1 found it, another runner of
   the same consumer handled these events meanwhile (a group member that was
   presumed dead and whose partition went to another): the batch is dropped,
   nothing of it is written, and the next batch starts from the new checkpoint.

So a restart resumes after the last batch done, and a batch done twice
decides nothing twice: its commands are retries by their ids, and its rows
are written at most once, because the checkpoint moves by compare-and-set.
`Runner.replay` runs a dead letter's event through steps 2 to 5 again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from eventsourcing.persistence import ApplicationRecorder

from consumers import dlq
from consumers.sink import CommandSink, validated
from engine.codec import decode_for_replay
from engine.commands import AnyCommand
from engine.events import STORED_TOPIC_PREFIXES, StreamEvent
from projections.db import Database
from projections.projection import Projection
from projections.runner import (
    CHECKPOINTS_TABLE,
    Checkpoints,
    catch_up,
    ensure_schema,
    partition_of,
)

__all__ = ["BATCH_NOTIFICATIONS_MAX", "Consumer", "Effects", "Runner"]

BATCH_NOTIFICATIONS_MAX: Final = 1_000
CHECKPOINT_PREFIX: Final = "consumer:"


@dataclass
class Effects:
    """What handling one event decided: commands for the engine, rows to write
    (SQL and parameters, run in the checkpoint's transaction), lines to print."""

    commands: list[AnyCommand] = field(default_factory=list)
    writes: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def add(self, other: Effects) -> None:
        self.commands += other.commands
        self.writes += other.writes
        self.lines += other.lines


class Consumer(ABC):
    """A named handler of the engine's events."""

    name: ClassVar[str]
    # The read models it reads, caught up before each batch.
    reads: ClassVar[tuple[Projection, ...]] = ()

    def ensure_schema(self, db: Database) -> None:  # noqa: B027 - an optional hook
        """Create the consumer's own tables, if it has any."""

    def begin_batch(self) -> None:  # noqa: B027 - an optional hook
        """Called before each batch's first event."""

    @abstractmethod
    def handle(self, db: Database, event: StreamEvent) -> Effects:
        """What `event` decides; raising makes it a dead letter."""


def _decode(raw: bytes) -> StreamEvent:
    return decode_for_replay([raw])[0]


class Runner:
    """Runs one consumer over one partition of a store, into one read-model database."""

    def __init__(
        self,
        consumer: Consumer,
        db: Database,
        recorder: ApplicationRecorder,
        sink: CommandSink | None,
        *,
        batch_notifications_max: int = BATCH_NOTIFICATIONS_MAX,
        out: Callable[[str], None] = lambda _line: None,
    ) -> None:
        if not 1 <= batch_notifications_max <= BATCH_NOTIFICATIONS_MAX * 10:
            most = BATCH_NOTIFICATIONS_MAX * 10
            msg = f"batch_notifications_max must be 1 to {most}, got {batch_notifications_max}"
            raise ValueError(msg)
        self.consumer = consumer
        self.db = db
        self.recorder = recorder
        self.sink = sink
        self.batch_notifications_max = batch_notifications_max
        self.out = out
        self.partition = partition_of(recorder)
        self.checkpoints = Checkpoints(db, self.partition)
        self.checkpoint_name = CHECKPOINT_PREFIX + consumer.name
        ensure_schema(db, consumer.reads, self.partition)
        dlq.ensure_table(db)
        consumer.ensure_schema(db)

    @property
    def checkpoint(self) -> int:
        with self.db.transaction():
            return self.checkpoints.max_tracking_id(self.checkpoint_name) or 0

    def catch_up(self) -> int:
        """Handle every event the store holds past the checkpoint; the notifications read."""
        return self.run_while(lambda: True)

    def run_while(self, keep_going: Callable[[], bool]) -> int:
        """Batches until the store has nothing new or `keep_going()`, asked after each, is
        false; the notifications read."""
        read = 0
        while done := self.batch():
            read += done
            if not keep_going():
                break
        return read

    def batch(self) -> int:
        """Steps 1 to 5 of the module docstring once; the notifications read (0 at the end)."""
        after = self.checkpoint
        page = self.recorder.select_notifications(
            after, self.batch_notifications_max, inclusive_of_start=False
        )
        if not page:
            return 0
        self._prepare()
        self.consumer.begin_batch()
        effects = Effects()
        letters: list[tuple[int, str, bytes]] = []
        for notification in page:
            if not notification.topic.startswith(STORED_TOPIC_PREFIXES):
                continue  # another application's event in the same store
            error = self._handle(notification.state, effects)
            if error is not None:
                letters.append((notification.id, error, notification.state))
        self._send(effects.commands)
        last = page[-1].id
        with self.db.transaction():
            claimed = self._advance(after, last)
            if claimed:
                self._write(effects)
                for notification_id, error, raw in letters:
                    dlq.add(
                        self.db, self.consumer.name, self.partition, notification_id, error, raw
                    )
        if not claimed:
            self.out(
                f"{self.consumer.name}: partition {self.partition}: another runner moved the "
                f"checkpoint past {after}; batch {after + 1}-{last} dropped"
            )
            return len(page)
        for line in effects.lines:
            self.out(line)
        for notification_id, error, _ in letters:
            self.out(f"dead letter: notification {notification_id}: {error}")
        return len(page)

    def replay(self, letter: dlq.DeadLetter) -> str | None:
        """Handle a dead letter's event again: None (and the letter gone) or the new error."""
        self._prepare()
        self.consumer.begin_batch()
        effects = Effects()
        error = self._handle(letter.raw, effects)
        if error is None:
            self._send(effects.commands)
        with self.db.transaction():
            if error is None:
                self._write(effects)
                dlq.remove(self.db, letter.id)
            else:
                dlq.failed_again(self.db, letter.id, error)
        for line in effects.lines:
            self.out(line)
        return error

    def _advance(self, after: int, last: int) -> bool:
        """Move the checkpoint from `after` to `last` if it is still at `after`.

        A compare-and-set, not the forward-only move of `Checkpoints.insert_tracking`:
        two runners that both read from `after` must not both write their rows,
        even when the later one reached further. On PostgreSQL the losing
        statement waits for the winner's commit and then matches no row (or
        conflicts); SQLite takes the write lock when the transaction begins.
        """
        if after == 0:
            statement = (
                f"INSERT INTO {CHECKPOINTS_TABLE} (projection, partition, notification_id) "
                "VALUES (?, ?, ?) ON CONFLICT (projection, partition) DO NOTHING "
                "RETURNING notification_id"
            )
            params: tuple[Any, ...] = (self.checkpoint_name, self.partition, last)
        else:
            statement = (
                f"UPDATE {CHECKPOINTS_TABLE} SET notification_id = ? "
                "WHERE projection = ? AND partition = ? AND notification_id = ? "
                "RETURNING notification_id"
            )
            params = (last, self.checkpoint_name, self.partition, after)
        return bool(self.db.execute(statement, params))

    def _prepare(self) -> None:
        if self.consumer.reads:
            # The tables were made as the runner started.
            catch_up(self.db, self.recorder, self.consumer.reads, schema=False)

    def _handle(self, raw: bytes, effects: Effects) -> str | None:
        """Decode and handle one event into `effects`; the error, if it failed.

        Any exception is the event's failure, whatever raised it: the consumer goes on.
        """
        try:
            event = _decode(raw)
        except Exception as error:
            return f"cannot decode: {type(error).__name__}: {error}"
        try:
            handled = self.consumer.handle(self.db, event)
            handled.commands = [validated(command) for command in handled.commands]
        except Exception as error:
            return (
                f"{type(event.data).__name__} of {event.stream_id}: {type(error).__name__}: {error}"
            )
        effects.add(handled)
        return None

    def _send(self, commands: Sequence[AnyCommand]) -> None:
        if not commands:
            return
        if self.sink is None:
            msg = f"consumer {self.consumer.name} decided commands but has no sink to send them"
            raise ValueError(msg)
        self.sink.send(commands)

    def _write(self, effects: Effects) -> None:
        for statement, params in effects.writes:
            self.db.execute(statement, params)
