"""Plain query functions over the read models, for the CLI and the HTTP API.

Each takes an open `Database` and returns msgspec Structs, so a caller can
render them or encode them as JSON as they are. Lists are in key order and
bounded by `limit` (at most `LIMIT_MAX`) with `offset` for paging.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Final, TypeVar

import msgspec

# The consumers' dead-letter table lives in the read-model database; its name is theirs.
from projections.clock import DAY_S
from projections.db import DEAD_LETTERS, Database, where
from projections.planning import (
    VELOCITY_WINDOWS_DAYS,
    PlanningSettings,
    days_of_cover,
    reorder_units,
    velocity,
)

__all__ = [
    "MARKETING_GROUPS",
    "THROUGHPUT_PERIODS",
    "Backlog",
    "Call",
    "CreditDecision",
    "CustomerOrder",
    "CustomerSummary",
    "DailyRevenue",
    "DeadLetterCount",
    "Exposure",
    "MarketingRow",
    "Movement",
    "OrderRow",
    "PickLine",
    "PlatformFigures",
    "PlatformPeriod",
    "Rejection",
    "ReviewItem",
    "Shipment",
    "SkuPlan",
    "StockLevel",
    "Throughput",
    "backlog",
    "call_list",
    "credit_decisions",
    "customer",
    "customer_orders",
    "customers",
    "daily_revenue",
    "dead_letters",
    "exposure",
    "exposures",
    "low_stock",
    "marketing",
    "marketing_day_zero",
    "movements",
    "order",
    "orders",
    "pick_lines",
    "pick_list",
    "planning",
    "planning_today",
    "platform",
    "platform_periods",
    "rejections",
    "reorder_suggestions",
    "review_queue",
    "shipments",
    "stock",
    "throughput",
]

LIMIT_MAX: Final = 10_000
LIMIT_DEFAULT: Final = 1_000

S = TypeVar("S", bound=msgspec.Struct)


class StockLevel(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    location: str
    on_hand: int
    reserved: int
    available: int
    safety_stock: int
    backorder_limit: int
    priority: int
    updated_at: str


class Movement(msgspec.Struct, frozen=True, kw_only=True):
    """A change of on hand; `quantity` is signed, `on_hand` is after it."""

    sku: str
    location: str
    version: int
    at: str
    kind: str
    quantity: int
    on_hand: int
    reference: str


class OrderRow(msgspec.Struct, frozen=True, kw_only=True):
    order_id: str
    customer_id: str
    channel: str
    campaign: str | None
    payment_terms: str
    status: str
    reason: str | None
    lines: int
    units_ordered: int
    units_shipped: int
    units_returned: int
    shipments: int
    deliveries: int
    total_cents: int
    paid_cents: int
    placed_at: str
    updated_at: str


class DailyRevenue(msgspec.Struct, frozen=True, kw_only=True):
    day: str
    orders_placed: int
    orders_confirmed: int
    revenue_cents: int
    orders_lost: int
    credited_cents: int


def _fields(cls: type[msgspec.Struct]) -> str:
    return ", ".join(cls.__struct_fields__)


def _rows(
    db: Database, cls: type[S], table: str, clause: str, params: tuple[Any, ...], order_by: str
) -> list[S]:
    sql = f"SELECT {_fields(cls)} FROM {table}{clause} ORDER BY {order_by}"
    names = cls.__struct_fields__
    return [cls(**dict(zip(names, row, strict=True))) for row in db.execute(sql, params)]


def _page(limit: int, offset: int) -> tuple[str, tuple[int, int]]:
    if not 0 < limit <= LIMIT_MAX or offset < 0:
        msg = f"limit must be 1 to {LIMIT_MAX} and offset at least 0, got {limit} and {offset}"
        raise ValueError(msg)
    return " LIMIT ? OFFSET ?", (limit, offset)


def stock(
    db: Database,
    sku: str | None = None,
    *,
    location: str | None = None,
    limit: int = LIMIT_DEFAULT,
    offset: int = 0,
) -> list[StockLevel]:
    """Stock levels of every slot, or of one SKU, or at one location."""
    clause, params = where(("sku = ?", sku), ("location = ?", location))
    page, paging = _page(limit, offset)
    return _rows(db, StockLevel, "stock_levels", clause, (*params, *paging), "sku, location" + page)


def low_stock(
    db: Database,
    below: int,
    *,
    location: str | None = None,
    limit: int = LIMIT_DEFAULT,
    offset: int = 0,
) -> list[StockLevel]:
    """The slots whose available quantity is under `below`, in SKU order, of every
    location or one; `below` 0 gives the slots under their safety stock."""
    clause, params = where(("available < ?", below), ("location = ?", location))
    page, paging = _page(limit, offset)
    return _rows(db, StockLevel, "stock_levels", clause, (*params, *paging), "sku, location" + page)


def movements(
    db: Database, sku: str, location: str, *, limit: int = LIMIT_DEFAULT, offset: int = 0
) -> list[Movement]:
    """The on-hand ledger of one slot, oldest first."""
    page, paging = _page(limit, offset)
    return _rows(
        db,
        Movement,
        "stock_movements",
        " WHERE sku = ? AND location = ?",
        (sku, location, *paging),
        "version" + page,
    )


def order(db: Database, order_id: str) -> OrderRow | None:
    found = _rows(db, OrderRow, "order_ledger", " WHERE order_id = ?", (order_id,), "order_id")
    return found[0] if found else None


def orders(
    db: Database,
    *,
    status: str | None = None,
    customer_id: str | None = None,
    limit: int = LIMIT_DEFAULT,
    offset: int = 0,
) -> list[OrderRow]:
    clause, params = where(("status = ?", status), ("customer_id = ?", customer_id))
    page, paging = _page(limit, offset)
    return _rows(db, OrderRow, "order_ledger", clause, (*params, *paging), "order_id" + page)


def daily_revenue(
    db: Database, *, since: str | None = None, limit: int = LIMIT_DEFAULT, offset: int = 0
) -> list[DailyRevenue]:
    """One row per UTC day (`YYYY-MM-DD`), oldest first, from `since` on."""
    clause, params = where(("day >= ?", since))
    page, paging = _page(limit, offset)
    return _rows(db, DailyRevenue, "daily_revenue", clause, (*params, *paging), "day" + page)


# ---------------------------------------------------------------- credit analysis


class Exposure(msgspec.Struct, frozen=True, kw_only=True):
    """A customer's credit: `exposure_cents` = `uninvoiced_cents` + `unpaid_cents`."""

    customer_id: str
    limit_cents: int
    payment_terms: str
    uninvoiced_cents: int
    unpaid_cents: int
    on_account_cents: int
    exposure_cents: int
    open_invoices: int
    overdue_invoices: int
    updated_at: str


class ReviewItem(msgspec.Struct, frozen=True, kw_only=True):
    """An order held for credit review; `status` is `open` until it leaves the queue."""

    order_id: str
    customer_id: str
    reason: str
    amount_cents: int
    exposure_cents: int
    since: str
    status: str
    resolved_at: str | None


class CreditDecision(msgspec.Struct, frozen=True, kw_only=True):
    """`decision`: approved, held, rejected (the policy), review_approved, review_rejected."""

    order_id: str
    decision: str
    customer_id: str
    amount_cents: int
    exposure_cents: int
    reason: str | None
    decided_by: str | None
    at: str


def exposure(db: Database, customer_id: str) -> Exposure | None:
    found = _rows(
        db, Exposure, "credit_exposure", " WHERE customer_id = ?", (customer_id,), "customer_id"
    )
    return found[0] if found else None


def exposures(db: Database, *, limit: int = LIMIT_DEFAULT, offset: int = 0) -> list[Exposure]:
    page, paging = _page(limit, offset)
    return _rows(db, Exposure, "credit_exposure", "", paging, "customer_id" + page)


def review_queue(
    db: Database, *, status: str | None = "open", limit: int = LIMIT_DEFAULT, offset: int = 0
) -> list[ReviewItem]:
    """Orders held for credit review, longest waiting first; every one ever held for None."""
    clause, params = where(("status = ?", status))
    page, paging = _page(limit, offset)
    return _rows(
        db, ReviewItem, "credit_review_queue", clause, (*params, *paging), "since, order_id" + page
    )


def credit_decisions(
    db: Database, *, customer_id: str | None = None, limit: int = LIMIT_DEFAULT, offset: int = 0
) -> list[CreditDecision]:
    """Credit decisions, oldest first, of every customer or of one."""
    clause, params = where(("customer_id = ?", customer_id))
    page, paging = _page(limit, offset)
    return _rows(
        db,
        CreditDecision,
        "credit_decisions",
        clause,
        (*params, *paging),
        "at, order_id, decision" + page,
    )


# ---------------------------------------------------------------- logistics


class PickLine(msgspec.Struct, frozen=True, kw_only=True):
    """A stock hold of an order; on its location's pick list while `confirmed`."""

    hold_id: int
    order_id: str
    sku: str
    location: str
    quantity: int
    open_quantity: int
    shipped_quantity: int
    status: str
    reserved_at: str
    confirmed_at: str | None
    ended_at: str | None


class Backlog(msgspec.Struct, frozen=True, kw_only=True):
    """What a location has still to ship for confirmed orders."""

    location: str
    orders: int
    lines: int
    units: int


class Shipment(msgspec.Struct, frozen=True, kw_only=True):
    order_id: str
    shipment_id: str
    location: str
    lines: int
    units: int
    shipped_at: str
    delivered_at: str | None


_OPEN_PICKS: Final = " WHERE status = 'confirmed' AND open_quantity > 0"


def backlog(db: Database) -> list[Backlog]:
    """The fulfilment backlog of every location that has one, by location."""
    sql = (
        "SELECT location, COUNT(DISTINCT order_id), COUNT(*), SUM(open_quantity) "
        f"FROM pick_lines{_OPEN_PICKS} GROUP BY location ORDER BY location"
    )
    return [
        Backlog(location=location, orders=orders, lines=lines, units=int(units))
        for location, orders, lines, units in db.execute(sql)
    ]


def pick_list(
    db: Database, location: str, *, limit: int = LIMIT_DEFAULT, offset: int = 0
) -> list[PickLine]:
    """The lines a location has to pick, first confirmed first."""
    page, paging = _page(limit, offset)
    return _rows(
        db,
        PickLine,
        "pick_lines",
        _OPEN_PICKS + " AND location = ?",
        (location, *paging),
        "confirmed_at, order_id, sku, hold_id" + page,
    )


def pick_lines(
    db: Database, order_id: str, *, limit: int = LIMIT_DEFAULT, offset: int = 0
) -> list[PickLine]:
    """Every hold of an order, whatever became of it."""
    page, paging = _page(limit, offset)
    return _rows(
        db, PickLine, "pick_lines", " WHERE order_id = ?", (order_id, *paging), "hold_id" + page
    )


def shipments(
    db: Database,
    *,
    location: str | None = None,
    order_id: str | None = None,
    limit: int = LIMIT_DEFAULT,
    offset: int = 0,
) -> list[Shipment]:
    """Shipments, oldest first, of every location or one, of every order or one."""
    clause, params = where(("location = ?", location), ("order_id = ?", order_id))
    page, paging = _page(limit, offset)
    order_by = "shipped_at, order_id, shipment_id" + page
    return _rows(db, Shipment, "shipments", clause, (*params, *paging), order_by)


# ---------------------------------------------------------------- telesales


class Call(msgspec.Struct, frozen=True, kw_only=True):
    """An order to call about: `reason` is `credit_held` or `expired`."""

    order_id: str
    customer_id: str
    channel: str
    payment_terms: str
    value_cents: int
    placed_at: str
    reason: str
    held_reason: str | None
    since: str


def call_list(
    db: Database,
    *,
    reason: str | None = None,
    customer_id: str | None = None,
    limit: int = LIMIT_DEFAULT,
    offset: int = 0,
) -> list[Call]:
    """Orders to call about, longest waiting first; of one reason or customer if given."""
    clause, params = where(
        "reason IS NOT NULL", ("reason = ?", reason), ("customer_id = ?", customer_id)
    )
    page, paging = _page(limit, offset)
    return _rows(db, Call, "call_list", clause, (*params, *paging), "since, order_id" + page)


# ---------------------------------------------------------------- customers


class CustomerOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An order in its customer's history; `outcome` is `open` until decided."""

    order_id: str
    customer_id: str
    channel: str
    outcome: str
    total_cents: int
    units_ordered: int
    units_shipped: int
    units_returned: int
    credited_cents: int
    placed_at: str
    updated_at: str


class CustomerSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A customer's totals; `lifetime_value_cents` = `confirmed_cents` - `credited_cents`,
    `return_rate` = `units_returned` / `units_shipped` (0 before anything shipped)."""

    customer_id: str
    orders: int
    orders_confirmed: int
    orders_lost: int
    ordered_cents: int
    confirmed_cents: int
    credited_cents: int
    lifetime_value_cents: int
    units_shipped: int
    units_returned: int
    return_rate: float
    first_order_at: str
    last_order_at: str


_CUSTOMER_TOTALS: Final = (
    "SELECT customer_id, COUNT(*), "
    "SUM(CASE WHEN outcome = 'confirmed' THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN outcome IN ('rejected', 'cancelled', 'expired') THEN 1 ELSE 0 END), "
    "SUM(total_cents), SUM(CASE WHEN outcome = 'confirmed' THEN total_cents ELSE 0 END), "
    "SUM(credited_cents), SUM(units_shipped), SUM(units_returned), "
    "MIN(placed_at), MAX(placed_at) FROM customer_orders"
)


def _summary(values: tuple[Any, ...]) -> CustomerSummary:
    customer_id, orders, confirmed, lost, ordered, confirmed_cents, credited = values[:7]
    shipped, returned, first, last = values[7:]
    return CustomerSummary(
        customer_id=customer_id,
        orders=int(orders),
        orders_confirmed=int(confirmed),
        orders_lost=int(lost),
        ordered_cents=int(ordered),
        confirmed_cents=int(confirmed_cents),
        credited_cents=int(credited),
        lifetime_value_cents=int(confirmed_cents) - int(credited),
        units_shipped=int(shipped),
        units_returned=int(returned),
        return_rate=int(returned) / int(shipped) if shipped else 0.0,
        first_order_at=first,
        last_order_at=last,
    )


def customer(db: Database, customer_id: str) -> CustomerSummary | None:
    found = db.execute(
        f"{_CUSTOMER_TOTALS} WHERE customer_id = ? GROUP BY customer_id", (customer_id,)
    )
    return _summary(tuple(found[0])) if found else None


def customers(
    db: Database, *, limit: int = LIMIT_DEFAULT, offset: int = 0
) -> list[CustomerSummary]:
    """Every customer's totals, by customer id."""
    page, paging = _page(limit, offset)
    sql = f"{_CUSTOMER_TOTALS} GROUP BY customer_id ORDER BY customer_id{page}"
    return [_summary(tuple(values)) for values in db.execute(sql, paging)]


def customer_orders(
    db: Database, customer_id: str, *, limit: int = LIMIT_DEFAULT, offset: int = 0
) -> list[CustomerOrder]:
    """A customer's orders, oldest first."""
    page, paging = _page(limit, offset)
    return _rows(
        db,
        CustomerOrder,
        "customer_orders",
        " WHERE customer_id = ?",
        (customer_id, *paging),
        "placed_at, order_id" + page,
    )


# ---------------------------------------------------------------- planning


class SkuPlan(msgspec.Struct, frozen=True, kw_only=True):
    """A SKU over all its locations; days and velocities are the logical clock's.

    `units_7d` / `units_30d` are units shipped in the complete days before
    `today`; see `projections.planning` for every figure's formula.
    """

    sku: str
    today: int
    on_hand: int
    reserved: int
    safety_stock: int
    available: int
    units_7d: int
    units_30d: int
    velocity_7d: float
    velocity_30d: float
    days_of_cover: float | None
    on_order: int
    reorder_units: int


def planning_today(db: Database) -> int:
    """The logical day the planning read model has reached (0 before the clock moves)."""
    clock = db.execute("SELECT now FROM planning_clock WHERE id = 0")
    return int(clock[0][0]) // DAY_S if clock else 0


def planning(
    db: Database,
    sku: str | None = None,
    *,
    settings: PlanningSettings | None = None,
    on_order: Mapping[str, int] | None = None,
    limit: int = LIMIT_DEFAULT,
    offset: int = 0,
) -> list[SkuPlan]:
    """Velocity, cover and reorder units of every SKU (or one), by SKU.

    `on_order` is the units already ordered per SKU: no event records them.
    """
    page, paging = _page(limit, offset)
    clause, params = where(("sku = ?", sku))
    positions = db.execute(
        "SELECT sku, SUM(on_hand), SUM(reserved), SUM(safety_stock) FROM planning_slots"
        f"{clause} GROUP BY sku ORDER BY sku{page}",
        (*params, *paging),
    )
    if not positions:
        return []
    today = planning_today(db)
    short, long = VELOCITY_WINDOWS_DAYS
    shipped = {
        row[0]: (int(row[1]), int(row[2]))
        for row in db.execute(
            "SELECT sku, SUM(CASE WHEN day >= ? THEN units ELSE 0 END), SUM(units) "
            "FROM planning_shipments WHERE day >= ? AND day < ? AND sku >= ? AND sku <= ? "
            "GROUP BY sku",
            (today - short, today - long, today, positions[0][0], positions[-1][0]),
        )
    }
    ordered = on_order or {}
    plans = []
    for name, on_hand, reserved, safety in positions:
        on_hand, reserved, safety = int(on_hand), int(reserved), int(safety)
        units_7d, units_30d = shipped.get(name, (0, 0))
        velocity_7d = velocity(units_7d, short, today)
        available = on_hand - safety - reserved
        plans.append(
            SkuPlan(
                sku=name,
                today=today,
                on_hand=on_hand,
                reserved=reserved,
                safety_stock=safety,
                available=available,
                units_7d=units_7d,
                units_30d=units_30d,
                velocity_7d=velocity_7d,
                velocity_30d=velocity(units_30d, long, today),
                days_of_cover=days_of_cover(available, velocity_7d),
                on_order=ordered.get(name, 0),
                reorder_units=reorder_units(
                    velocity_7d,
                    settings or PlanningSettings(),
                    safety_stock=safety,
                    free=on_hand - reserved,
                    on_order=ordered.get(name, 0),
                ),
            )
        )
    return plans


def reorder_suggestions(
    db: Database,
    *,
    settings: PlanningSettings | None = None,
    on_order: Mapping[str, int] | None = None,
    limit: int = LIMIT_DEFAULT,
    offset: int = 0,
) -> list[SkuPlan]:
    """The SKUs to reorder now (`reorder_units` > 0), by SKU."""
    _page(limit, offset)
    wanted = []
    start = 0
    while batch := planning(
        db, settings=settings, on_order=on_order, limit=LIMIT_MAX, offset=start
    ):
        wanted += [plan for plan in batch if plan.reorder_units > 0]
        start += LIMIT_MAX
    return wanted[offset : offset + limit]


# ---------------------------------------------------------------- online marketing

MARKETING_GROUPS: Final = ("channel", "campaign")


class MarketingRow(msgspec.Struct, frozen=True, kw_only=True):
    """Orders placed on a logical day (or all days) through a channel and campaign.

    `day`, `channel` and `campaign` are None where the rows are not grouped
    by them; a campaign of `''` is orders with none. Rates and the average
    order value are None where their denominator is 0; see `projections.marketing`.
    """

    day: int | None
    channel: str | None
    campaign: str | None
    orders_placed: int
    orders_confirmed: int
    revenue_cents: int
    average_order_cents: float | None
    conversion: float | None
    orders_cancelled: int
    cancellation_rate: float | None
    orders_lost: int
    orders_shipped: int
    orders_returned: int
    return_rate: float | None


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def marketing_day_zero(db: Database) -> date | None:
    """The UTC date of logical day 0 as the marketing read model recorded it; None
    before it folded anything, or when it was built before it recorded one."""
    if not db.table_exists("marketing_calendar"):
        return None
    found = db.execute("SELECT day_zero FROM marketing_calendar WHERE id = 0")
    return date.fromisoformat(found[0][0]) if found else None


def marketing(
    db: Database,
    *,
    by: Sequence[str] = MARKETING_GROUPS,
    per_day: bool = True,
    since_day: int | None = None,
    limit: int = LIMIT_DEFAULT,
    offset: int = 0,
) -> list[MarketingRow]:
    """Marketing figures grouped by `by` (channel, campaign, both or neither), and by
    logical day unless `per_day` is False, from day `since_day` on."""
    unknown = [name for name in by if name not in MARKETING_GROUPS]
    if unknown:
        msg = f"cannot group marketing by {unknown}; choose from {list(MARKETING_GROUPS)}"
        raise ValueError(msg)
    groups = [
        name for name in ("day", *MARKETING_GROUPS) if name in by or (per_day and name == "day")
    ]
    clause, params = where(("day >= ?", since_day))
    page, paging = _page(limit, offset)
    grouped = f" GROUP BY {', '.join(groups)} ORDER BY {', '.join(groups)}" if groups else ""
    sums = "COUNT(*), SUM(confirmed), SUM(revenue_cents), SUM(cancelled), "
    sums += "SUM(expired) + SUM(rejected), SUM(shipped), SUM(returned)"
    found = db.execute(
        f"SELECT {''.join(g + ', ' for g in groups)}{sums} FROM marketing_orders"
        f"{clause}{grouped}{page}",
        (*params, *paging),
    )
    result = []
    for values in found:
        named = dict(zip(groups, values, strict=False))
        placed, confirmed, revenue, cancelled, lost, shipped, returned = (
            int(v or 0) for v in values[len(groups) :]
        )
        if not placed:
            continue  # no orders at all: the one row an ungrouped sum gives
        result.append(
            MarketingRow(
                day=named.get("day"),
                channel=named.get("channel"),
                campaign=named.get("campaign"),
                orders_placed=placed,
                orders_confirmed=confirmed,
                revenue_cents=revenue,
                average_order_cents=_ratio(revenue, confirmed),
                conversion=_ratio(confirmed, placed),
                orders_cancelled=cancelled,
                cancellation_rate=_ratio(cancelled, placed),
                orders_lost=lost,
                orders_shipped=shipped,
                orders_returned=returned,
                return_rate=_ratio(returned, shipped),
            )
        )
    return result


# ---------------------------------------------------------------- business platform

THROUGHPUT_PERIODS: Final = {"hour": 13, "day": 10}


class Throughput(msgspec.Struct, frozen=True, kw_only=True):
    """Events of a topic in an hour (`YYYY-MM-DDTHH`) or day (`YYYY-MM-DD`), UTC wall clock."""

    period: str
    topic: str
    events: int


class Rejection(msgspec.Struct, frozen=True, kw_only=True):
    """How often a command (or a stock operation, or the order saga: `''`) was
    rejected for a reason on a UTC day; `event` is the rejection's event type."""

    day: str
    event: str
    command: str
    reason: str
    rejected: int


def _period(what: str, per: str) -> str:
    """The SQL that cuts an `hour` column (`YYYY-MM-DDTHH`) to its `per` hour or day."""
    width = THROUGHPUT_PERIODS.get(per)
    if width is None:
        msg = f"{what} per {per!r}: choose one of {list(THROUGHPUT_PERIODS)}"
        raise ValueError(msg)
    return f"SUBSTR(hour, 1, {width})"


def throughput(
    db: Database,
    *,
    per: str = "hour",
    since: str | None = None,
    limit: int = LIMIT_DEFAULT,
    offset: int = 0,
) -> list[Throughput]:
    """Events per topic and `per` hour or day, oldest first, from `since` (a day or hour) on."""
    period = _period("throughput", per)
    clause, params = where(("hour >= ?", since))
    page, paging = _page(limit, offset)
    found = db.execute(
        f"SELECT {period}, topic, SUM(events) FROM platform_throughput{clause} "
        f"GROUP BY {period}, topic ORDER BY {period}, topic{page}",
        (*params, *paging),
    )
    return [Throughput(period=p, topic=t, events=int(n)) for p, t, n in found]


def rejections(
    db: Database,
    *,
    since_day: str | None = None,
    event: str | None = None,
    limit: int = LIMIT_DEFAULT,
    offset: int = 0,
) -> list[Rejection]:
    """Rejections by day, event type, command and reason, oldest first."""
    clause, params = where(("day >= ?", since_day), ("event = ?", event))
    page, paging = _page(limit, offset)
    return _rows(
        db,
        Rejection,
        "platform_rejections",
        clause,
        (*params, *paging),
        "day, event, command, reason" + page,
    )


class PlatformPeriod(msgspec.Struct, frozen=True, kw_only=True):
    """Commands the engine answered and events it wrote in an hour or day, UTC wall clock."""

    period: str
    commands: int
    events: int


class DeadLetterCount(msgspec.Struct, frozen=True, kw_only=True):
    """Events a consumer could not handle and that wait for a person (`stockledger dlq`)."""

    consumer: str
    letters: int
    oldest_failed_at: str
    newest_failed_at: str


class PlatformFigures(msgspec.Struct, frozen=True, kw_only=True):
    """The platform's load per period, and the dead letters waiting beside it."""

    periods: list[PlatformPeriod]
    dead_letters: list[DeadLetterCount]


def platform_periods(
    db: Database,
    *,
    per: str = "hour",
    since: str | None = None,
    limit: int = LIMIT_DEFAULT,
    offset: int = 0,
) -> list[PlatformPeriod]:
    """Commands and events (all topics) per `per` hour or day, oldest first, from `since` on."""
    period = _period("platform figures", per)
    clause, params = where(("hour >= ?", since))
    page, paging = _page(limit, offset)
    found = db.execute(
        f"SELECT period, SUM(commands), SUM(events) FROM ("
        f"SELECT {period} AS period, commands, 0 AS events FROM platform_commands{clause} "
        f"UNION ALL SELECT {period} AS period, 0 AS commands, events "
        f"FROM platform_throughput{clause}"
        f") AS counted GROUP BY period ORDER BY period{page}",
        (*params, *params, *paging),
    )
    return [PlatformPeriod(period=p, commands=int(c), events=int(e)) for p, c, e in found]


def dead_letters(db: Database) -> list[DeadLetterCount]:
    """Dead letters per consumer; none where no consumer has run on this database."""
    if not db.table_exists(DEAD_LETTERS):
        return []
    found = db.execute(
        f"SELECT consumer, COUNT(*), MIN(failed_at), MAX(failed_at) FROM {DEAD_LETTERS} "
        "GROUP BY consumer ORDER BY consumer"
    )
    return [
        DeadLetterCount(consumer=c, letters=int(n), oldest_failed_at=o, newest_failed_at=w)
        for c, n, o, w in found
    ]


def platform(
    db: Database,
    *,
    per: str = "hour",
    since: str | None = None,
    limit: int = LIMIT_DEFAULT,
    offset: int = 0,
) -> PlatformFigures:
    """Commands and events per period (paged), and every consumer's dead letters."""
    return PlatformFigures(
        periods=platform_periods(db, per=per, since=since, limit=limit, offset=offset),
        dead_letters=dead_letters(db),
    )
