"""Items to deal with at a time to come: the engine's invoices falling due, the
storefront's follow-up commands.

One list per due time and a heap of the times, not a heap of the items: the
clocks move in ticks, so thousands of items share a time, and a heap of the
items themselves compares them (tuples of strings, commands) at every push
and pop. Measured on the demo: the storefront's heap of commands spent 2 us a
command, the engine's heap of invoices 2% of the interpreter's time (py-spy).
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Schedule(Generic[T]):
    """Items by due time; taken earliest time first, then in the order added."""

    __slots__ = ("_at", "_times")

    def __init__(self) -> None:
        # A time is in the heap exactly while it has items.
        self._at: dict[int, list[T]] = {}
        self._times: list[int] = []

    def __bool__(self) -> bool:
        return bool(self._times)

    def __len__(self) -> int:
        return sum(map(len, self._at.values()))

    def __iter__(self) -> Iterator[tuple[int, T]]:
        """Every `(time, item)` left, earliest time first."""
        for at in sorted(self._at):
            for item in self._at[at]:
                yield at, item

    def add(self, at: int, item: T) -> None:
        items = self._at.get(at)
        if items is None:
            items = self._at[at] = []
            heapq.heappush(self._times, at)
        items.append(item)

    def first_at(self) -> int:
        """The earliest due time; IndexError when empty."""
        return self._times[0]

    def any_due(self, now: int) -> bool:
        return bool(self._times) and self._times[0] <= now

    def take(self, now: int, count_max: int = sys.maxsize) -> list[T]:
        """The items due by `now` (up to `count_max` of them), earliest first."""
        taken: list[T] = []
        times = self._times
        room = count_max
        while times and times[0] <= now and room > 0:
            items = self._at[times[0]]
            if len(items) <= room:
                del self._at[heapq.heappop(times)]
            else:
                items, self._at[times[0]] = items[:room], items[room:]
            taken += items
            room -= len(items)
        return taken
