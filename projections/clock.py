"""The engine's logical clock as a read model sees it, for read models that count business days.

An event carries two times. Its envelope's timestamp is the wall clock of the
commit: one per engine batch, and a demo that trades through days in seconds
of wall time puts all of them on one date. The logical clock is the engine's
business time (`ClockAdvanced.now`, seconds, 0 before the first advance):
holds expire and invoices fall due by it, and the demo moves it through days.
Every event happens at the `now` of the last `ClockAdvanced` before it in
notification order, so a fold that meets the events in that order knows each
one's logical time; its day is `now // DAY_S` (day 0 is the clock's first).

A projection keeps the clock in a one-row table of its own (tables belong to
one projection and are rebuilt and swapped with it), declared by `clock_table`.
Its `keys` can not know the clock before the batch, so rows bucketed by a
logical day are written where the key does not hold the day (a ledger line,
an order's row) and summed by day when queried.

The logical clock has no calendar: `now` counts seconds from wherever the
engine's first `AdvanceClock` chose. A person asking for figures "since
2026-11-20" needs one all the same, so a read model may record its day zero:
the UTC date (on the envelopes' wall clock) of the first event it folded,
which happened at `now` 0, before any advance. Logical day N is then day
zero plus N calendar days: for a store whose clock moves with the wall
clock from the start, that is the day's own date; for the demo, which moves
through days in seconds, it is a calendar that starts on the day the store
began. `logical_day` reads either a date, through that day zero, or an
explicit `day:N`, which needs no calendar.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Final

from projections.projection import BIGINT, TEXT, Key, Rows, Table

__all__ = [
    "CLOCK_KEY",
    "DAY_PREFIX",
    "DAY_S",
    "NoDayZeroError",
    "calendar_table",
    "clock_row",
    "clock_table",
    "logical_day",
]

DAY_S: Final = 86_400
CLOCK_KEY: Final[Key] = (0,)
DAY_PREFIX: Final = "day:"
_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def clock_table(name: str) -> Table:
    """A one-row table (`id` 0) holding the logical clock's `now`, in seconds."""
    return Table(name, (("id", BIGINT), ("now", BIGINT)), key=("id",))


def clock_row(rows: Rows, table: str) -> dict[str, Any]:
    """The clock's row, for writing; at 0 before the first `ClockAdvanced`."""
    return rows.row(table, CLOCK_KEY) or rows.insert(table, CLOCK_KEY, {"id": 0, "now": 0})


def calendar_table(name: str) -> Table:
    """A one-row table (`id` 0) holding day zero: the UTC date (`YYYY-MM-DD`) of logical day 0."""
    return Table(name, (("id", BIGINT), ("day_zero", TEXT)), key=("id",))


class NoDayZeroError(LookupError):
    """A date asked of a read model that has recorded no day zero."""


def logical_day(text: str, day_zero: date | None) -> int:
    """The logical day `text` names: `day:N`, or a date `YYYY-MM-DD` counted from `day_zero`.

    Raises `ValueError` for text that is neither, and `NoDayZeroError` for a
    date when `day_zero` is None (the read model has folded nothing yet, or
    was built before it recorded one).
    """
    if text.startswith(DAY_PREFIX):
        number = text.removeprefix(DAY_PREFIX)
        if not (number.isascii() and number.isdigit()):
            msg = f"{text!r}: a logical day is day:N with N a whole number from 0, e.g. day:3"
            raise ValueError(msg)
        return int(number)
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        asked = date.fromisoformat(text)
    except ValueError:
        msg = (
            f"{text!r} is neither a date (YYYY-MM-DD, e.g. 2026-11-20) "
            f"nor a logical day ({DAY_PREFIX}N, e.g. {DAY_PREFIX}3)"
        )
        raise ValueError(msg) from None
    if day_zero is None:
        msg = (
            f"no day zero is recorded to read {text} as a logical day: rebuild the read "
            f"model, or ask for {DAY_PREFIX}N"
        )
        raise NoDayZeroError(msg)
    return (asked - day_zero).days
