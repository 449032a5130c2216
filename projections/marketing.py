"""Online marketing: orders, revenue, average order value and conversion by channel and
campaign per day, with cancellation and return rates.

Time is the engine's logical clock (`projections.clock`): a campaign's days
are business days, which the demo moves through in seconds of wall time.
`marketing_calendar` records day zero, the UTC date of the first event the
projection folded, so a query can take a date (`projections.clock.logical_day`).
A read model built before it was recorded has none, and says so when asked
for a date, until it is rebuilt.

Every figure is booked to the logical day the order was *placed* (its cohort),
with the channel and campaign it came from, so a day's conversion is the
share of that day's orders that went on to be confirmed, whenever that was.
Only `OrderPlaced` names channel and campaign, so `marketing_orders` keeps a
row per order: its day, channel and campaign (`''` for none) and what became
of it; the queries (`projections.queries.marketing`) sum the rows by day,
channel and campaign. Its keys can not hold the day, as `projections.clock`
explains, and summing at query time lets one table answer by channel, by
campaign or by both.

- revenue: the value of orders confirmed (`OrderConfirmed.total_cents`), as
  the orders read model books it; cancellations after it do not take it back;
- average order value = revenue / orders confirmed;
- conversion = orders confirmed / orders placed;
- cancellation rate = orders cancelled / orders placed (expired and rejected
  orders are counted apart: they are lost, not cancelled);
- return rate = orders with a return / orders with a shipment.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Final

from engine.events import (
    ClockAdvanced,
    LinesReturned,
    LinesShipped,
    OrderCancelled,
    OrderConfirmed,
    OrderExpired,
    OrderPayload,
    OrderPlaced,
    OrderRejected,
)
from projections.clock import CLOCK_KEY, DAY_S, calendar_table, clock_table
from projections.projection import (
    BIGINT,
    TEXT,
    Key,
    Positioned,
    Projection,
    Rows,
    Table,
    stamp,
    value_cents,
)

__all__ = ["Marketing"]

ORDERS: Final = "marketing_orders"
CLOCK: Final = "marketing_clock"
CALENDAR: Final = "marketing_calendar"

# What each event sets to 1 on the order's row (OrderConfirmed also books revenue).
_FLAGS: Final = {
    OrderConfirmed: "confirmed",
    OrderCancelled: "cancelled",
    OrderExpired: "expired",
    OrderRejected: "rejected",
    LinesShipped: "shipped",
    LinesReturned: "returned",
}
_TRACKED: Final = frozenset((OrderPlaced, *_FLAGS))


def _placed(data: OrderPlaced, day: int) -> dict[str, Any]:
    return {
        "order_id": data.order_id,
        "day": day,
        "channel": data.channel,
        "campaign": data.campaign or "",
        "value_cents": value_cents(data.lines),
        "revenue_cents": 0,
        "confirmed": 0,
        "cancelled": 0,
        "expired": 0,
        "rejected": 0,
        "shipped": 0,
        "returned": 0,
    }


class Marketing(Projection):
    name: ClassVar[str] = "marketing"
    reads: ClassVar[tuple[type, ...] | None] = (*_TRACKED, ClockAdvanced)
    tables: ClassVar[tuple[Table, ...]] = (
        Table(
            ORDERS,
            (
                ("order_id", TEXT),
                ("day", BIGINT),
                ("channel", TEXT),
                ("campaign", TEXT),
                ("value_cents", BIGINT),
                ("revenue_cents", BIGINT),
                ("confirmed", BIGINT),
                ("cancelled", BIGINT),
                ("expired", BIGINT),
                ("rejected", BIGINT),
                ("shipped", BIGINT),
                ("returned", BIGINT),
            ),
            key=("order_id",),
            indexes=(("day",),),
        ),
        clock_table(CLOCK),
        calendar_table(CALENDAR),
    )

    def keys(self, events: Sequence[Positioned]) -> Iterator[tuple[str, Key]]:
        yield CLOCK, CLOCK_KEY
        yield CALENDAR, CLOCK_KEY
        tracked = _TRACKED
        for _, event in events:
            data = event.data
            if type(data) in tracked:
                assert isinstance(data, OrderPayload)
                yield ORDERS, (data.order_id,)

    def fold(self, rows: Rows, events: Sequence[Positioned]) -> None:
        if not events:
            return
        clock = rows.row(CLOCK, CLOCK_KEY)
        if clock is None:
            # The first event ever folded happened at `now` 0: its date is logical day 0's.
            clock = rows.insert(CLOCK, CLOCK_KEY, {"id": 0, "now": 0})
            day_zero = stamp(events[0][1].timestamp)[:10]
            rows.insert(CALENDAR, CLOCK_KEY, {"id": 0, "day_zero": day_zero})
        now = clock["now"]
        tracked = _TRACKED
        # An order meets several events a batch: its row is asked of `rows` once.
        orders: dict[str, dict[str, Any]] = {}
        for _, event in events:
            data = event.data
            kind = type(data)
            if kind not in tracked:
                if kind is ClockAdvanced:
                    assert isinstance(data, ClockAdvanced)
                    now = data.now
                continue
            assert isinstance(data, OrderPayload)
            if isinstance(data, OrderPlaced):
                order = _placed(data, now // DAY_S)
                orders[data.order_id] = rows.insert(ORDERS, (data.order_id,), order)
                continue
            found = orders.get(data.order_id)
            if found is None:
                found = rows.row(ORDERS, (data.order_id,))
                if found is None:
                    continue  # an event about an order never placed
                orders[data.order_id] = found
            found[_FLAGS[kind]] = 1
            if isinstance(data, OrderConfirmed):
                found["revenue_cents"] = data.total_cents
        clock["now"] = now
