"""Business platform: throughput by topic and hour, commands per hour, and rejections by reason.

Time is the wall clock of the envelopes (UTC): throughput is about the load
the platform carried when it carried it, not about business days. An engine
batch stamps all its events with one timestamp.

- `platform_throughput`: events per hour (`YYYY-MM-DDTHH`) and topic
  (`orders`, `stock`, `credit`); the queries sum hours into days.
- `platform_commands`: commands the engine answered per hour. A command is
  not an event, but each of its events carries its id as causation id, and
  the engine writes them one after the other in one commit: a command is a
  run of events with one causation id. A command that changed nothing was
  still answered with a rejection event, so it counts; a retry of a command
  answered before writes nothing, and does not count again.
  `platform_last_command` keeps the causation id of the last event folded
  (hex), so a run that a batch boundary cuts in two is counted once.
- `platform_rejections`: per day (`YYYY-MM-DD`), event type, command and
  reason, the count of `StockRejected` (command: its operation),
  `OrderCommandRejected` and `CreditCommandRejected` (command: the command's
  name) and `OrderRejected` (command: `''`, the saga rejected the order).

Not here, and why:
- dead letters: no engine event is one. Consumers' poison events go to their
  dead-letter table (`consumers.dlq`), which `projections.queries.platform`
  counts beside these figures; a command the Kafka service can not take
  goes to the `dlq` topic and never reaches the store or the read models;
- projection lag: `projections.runner.status` (`stockledger project status`).

`keys` and `fold` see the same batch, so the batch's tally is made once and
kept for the fold (checked by identity: a different batch is tallied anew).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter, itemgetter, ne
from typing import ClassVar, Final

from engine.events import (
    TOPIC_TYPES,
    CreditCommandRejected,
    OrderCommandRejected,
    OrderRejected,
)
from engine.stock.events import StockRejected
from projections.projection import (
    BIGINT,
    TEXT,
    Key,
    Positioned,
    Projection,
    Rows,
    Table,
    stamp,
)

__all__ = ["Platform"]

THROUGHPUT: Final = "platform_throughput"
COMMANDS: Final = "platform_commands"
LAST_COMMAND: Final = "platform_last_command"
REJECTIONS: Final = "platform_rejections"

_LAST_KEY: Final[Key] = (0,)
_TOPIC_OF: Final = {cls: topic for topic, types in TOPIC_TYPES.items() for cls in types}
_REJECTIONS: Final = frozenset(
    (StockRejected, OrderCommandRejected, CreditCommandRejected, OrderRejected)
)
_event: Final = itemgetter(1)
_timestamp: Final = attrgetter("timestamp")
_data: Final = attrgetter("data")
_causation: Final = attrgetter("causation_id")


@dataclass
class _Tally:
    """One batch counted: events per (hour, topic), rejections per (day, event,
    command, reason), and command runs starting per hour, counting the batch's
    first run as a start (the fold knows whether it goes on from the last batch)."""

    throughput: Counter[Key] = field(default_factory=Counter)
    rejections: Counter[Key] = field(default_factory=Counter)
    commands: Counter[str] = field(default_factory=Counter)
    first_hour: str = ""
    first_cause: bytes = b""
    last_cause: bytes = b""


def _rejection(day: str, data: object) -> Key:
    if isinstance(data, StockRejected):
        return (day, "StockRejected", data.operation, data.reason.value)
    if isinstance(data, OrderCommandRejected | CreditCommandRejected):
        return (day, type(data).__name__, data.command, data.reason.value)
    assert isinstance(data, OrderRejected)
    return (day, "OrderRejected", "", data.reason.value)


def _tally(events: Sequence[Positioned]) -> _Tally:
    """The batch's counts.

    Events come in runs of one timestamp (an engine batch stamps all its
    events with one), so each run's payload types and command runs are
    counted without a Python call an event, and only a run holding a
    rejection is looked into.
    """
    tally = _Tally()
    previous: bytes | None = None
    for timestamp, run in groupby(map(_event, events), _timestamp):
        hour = stamp(timestamp)[:13]
        same_time = list(run)
        kinds = Counter(map(type, map(_data, same_time)))
        for kind, count in kinds.items():
            tally.throughput[hour, _TOPIC_OF[kind]] += count
        causes = list(map(_causation, same_time))
        if previous is None:
            tally.first_hour, tally.first_cause = hour, causes[0]
        # A command starts where the causation id changes from the event before.
        started = sum(map(ne, causes[1:], causes)) + (causes[0] != previous)
        tally.commands[hour] += started
        previous = causes[-1]
        if not _REJECTIONS.isdisjoint(kinds):
            for event in same_time:
                if type(event.data) in _REJECTIONS:
                    tally.rejections[_rejection(hour[:10], event.data)] += 1
    if previous is not None:
        tally.last_cause = previous
    return tally


class Platform(Projection):
    name: ClassVar[str] = "platform"
    tables: ClassVar[tuple[Table, ...]] = (
        Table(
            THROUGHPUT,
            (("hour", TEXT), ("topic", TEXT), ("events", BIGINT)),
            key=("hour", "topic"),
        ),
        Table(COMMANDS, (("hour", TEXT), ("commands", BIGINT)), key=("hour",)),
        Table(LAST_COMMAND, (("id", BIGINT), ("causation_id", TEXT)), key=("id",)),
        Table(
            REJECTIONS,
            (
                ("day", TEXT),
                ("event", TEXT),
                ("command", TEXT),
                ("reason", TEXT),
                ("rejected", BIGINT),
            ),
            key=("day", "event", "command", "reason"),
        ),
    )

    def __init__(self) -> None:
        self._tallied: tuple[Sequence[Positioned], _Tally] | None = None

    def _tally(self, events: Sequence[Positioned]) -> _Tally:
        tallied = self._tallied
        if tallied is not None and tallied[0] is events:
            return tallied[1]
        tally = _tally(events)
        self._tallied = (events, tally)
        return tally

    def keys(self, events: Sequence[Positioned]) -> Iterator[tuple[str, Key]]:
        tally = self._tally(events)
        yield LAST_COMMAND, _LAST_KEY
        for key in tally.throughput:
            yield THROUGHPUT, key
        for hour in tally.commands:
            yield COMMANDS, (hour,)
        for key in tally.rejections:
            yield REJECTIONS, key

    def fold(self, rows: Rows, events: Sequence[Positioned]) -> None:
        tally = self._tally(events)
        self._tallied = None
        if not events:
            return
        for key, count in tally.throughput.items():
            row = rows.row(THROUGHPUT, key)
            if row is None:
                row = rows.insert(THROUGHPUT, key, {"hour": key[0], "topic": key[1], "events": 0})
            row["events"] += count
        self._count_commands(rows, tally)
        for key, count in tally.rejections.items():
            row = rows.row(REJECTIONS, key)
            if row is None:
                day, event, command, reason = key
                row = rows.insert(
                    REJECTIONS,
                    key,
                    {
                        "day": day,
                        "event": event,
                        "command": command,
                        "reason": reason,
                        "rejected": 0,
                    },
                )
            row["rejected"] += count

    @staticmethod
    def _count_commands(rows: Rows, tally: _Tally) -> None:
        last = rows.row(LAST_COMMAND, _LAST_KEY) or rows.insert(
            LAST_COMMAND, _LAST_KEY, {"id": 0, "causation_id": ""}
        )
        commands = tally.commands
        if last["causation_id"] == tally.first_cause.hex():
            # The batch begins inside the command the last batch ended in.
            commands[tally.first_hour] -= 1
        last["causation_id"] = tally.last_cause.hex()
        for hour, count in commands.items():
            row = rows.row(COMMANDS, (hour,))
            if row is None:
                row = rows.insert(COMMANDS, (hour,), {"hour": hour, "commands": 0})
            row["commands"] += count
