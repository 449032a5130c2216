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
"""

from __future__ import annotations

from typing import Any, Final

from projections.projection import BIGINT, Key, Rows, Table

__all__ = ["CLOCK_KEY", "DAY_S", "clock_row", "clock_table"]

DAY_S: Final = 86_400
CLOCK_KEY: Final[Key] = (0,)


def clock_table(name: str) -> Table:
    """A one-row table (`id` 0) holding the logical clock's `now`, in seconds."""
    return Table(name, (("id", BIGINT), ("now", BIGINT)), key=("id",))


def clock_row(rows: Rows, table: str) -> dict[str, Any]:
    """The clock's row, for writing; at 0 before the first `ClockAdvanced`."""
    return rows.row(table, CLOCK_KEY) or rows.insert(table, CLOCK_KEY, {"id": 0, "now": 0})
