"""Business platform: throughput by topic and hour, and rejections by reason.

Time is the wall clock of the envelopes (UTC): throughput is about the load
the platform carried when it carried it, not about business days. An engine
batch stamps all its events with one timestamp.

- `platform_throughput`: events per hour (`YYYY-MM-DDTHH`) and topic
  (`orders`, `stock`, `credit`); the queries sum hours into days.
- `platform_rejections`: per day (`YYYY-MM-DD`), event type, command and
  reason, the count of `StockRejected` (command: its operation),
  `OrderCommandRejected` and `CreditCommandRejected` (command: the command's
  name) and `OrderRejected` (command: `''`, the saga rejected the order).

Not here, and why:
- commands per hour: a command is not an event, and the events the runner
  hands a projection (`StreamEvent`) leave out the causation id that would
  tell one command's events from the next; counting them needs the runner
  to pass it, or the command intake to count what it takes;
- dead letters: no engine event is one. A command the Kafka service can not
  take goes to the `dlq` topic and never reaches the store, and consumers'
  poison events go to their dead-letter table or topic (issue 5, section 3);
  their count is read there and reported beside these figures;
- projection lag: `projections.runner.status` (`stockledger project status`).

`keys` and `fold` see the same batch, so the batch's tally is made once and
kept for the fold (checked by identity: a different batch is tallied anew).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import groupby
from operator import attrgetter, itemgetter
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
REJECTIONS: Final = "platform_rejections"

_TOPIC_OF: Final = {cls: topic for topic, types in TOPIC_TYPES.items() for cls in types}
_REJECTIONS: Final = frozenset(
    (StockRejected, OrderCommandRejected, CreditCommandRejected, OrderRejected)
)

_event: Final = itemgetter(1)
_timestamp: Final = attrgetter("timestamp")
_data: Final = attrgetter("data")

_Tally = tuple[Counter[Key], Counter[Key]]


def _rejection(day: str, data: object) -> Key:
    if isinstance(data, StockRejected):
        return (day, "StockRejected", data.operation, data.reason.value)
    if isinstance(data, OrderCommandRejected | CreditCommandRejected):
        return (day, type(data).__name__, data.command, data.reason.value)
    assert isinstance(data, OrderRejected)
    return (day, "OrderRejected", "", data.reason.value)


def _tally(events: Sequence[Positioned]) -> _Tally:
    """Events per (hour, topic) and rejections per (day, event, command, reason).

    Events come in runs of one timestamp (an engine batch stamps all its
    events with one), so each run's payload types are counted without a
    Python call an event, and only a run holding a rejection is looked into.
    """
    throughput: Counter[Key] = Counter()
    rejections: Counter[Key] = Counter()
    for timestamp, run in groupby(map(_event, events), _timestamp):
        hour = stamp(timestamp)[:13]
        same_time = list(run)
        kinds = Counter(map(type, map(_data, same_time)))
        for kind, count in kinds.items():
            throughput[hour, _TOPIC_OF[kind]] += count
        if not _REJECTIONS.isdisjoint(kinds):
            for event in same_time:
                if type(event.data) in _REJECTIONS:
                    rejections[_rejection(hour[:10], event.data)] += 1
    return throughput, rejections


class Platform(Projection):
    name: ClassVar[str] = "platform"
    tables: ClassVar[tuple[Table, ...]] = (
        Table(
            THROUGHPUT,
            (("hour", TEXT), ("topic", TEXT), ("events", BIGINT)),
            key=("hour", "topic"),
        ),
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
        throughput, rejections = self._tally(events)
        for key in throughput:
            yield THROUGHPUT, key
        for key in rejections:
            yield REJECTIONS, key

    def fold(self, rows: Rows, events: Sequence[Positioned]) -> None:
        throughput, rejections = self._tally(events)
        self._tallied = None
        for key, count in throughput.items():
            row = rows.row(THROUGHPUT, key)
            if row is None:
                row = rows.insert(THROUGHPUT, key, {"hour": key[0], "topic": key[1], "events": 0})
            row["events"] += count
        for key, count in rejections.items():
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
