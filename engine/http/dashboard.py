"""The ops dashboard: the page at GET /, its script and style under /static/, its figures.

GET /dashboard/data gathers every figure the page shows in one call, from the
query functions of `projections.queries` and the runner's status, so the page
and a script see the same numbers. The read models are those `stockledger
project run` keeps, in the database the app is configured with
(`HttpSettings.read_db_url`, the read API's `app.state.read_models`), so the
page shows what GET /stock and the rest answer. A section whose read model is
not in that database answers `NotAvailable` saying so: the review queue and
the backlog appear once their projections (`credit`, `logistics`) have built their tables there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar

import anyio
import msgspec
from litestar import MediaType, Request, get
from litestar.params import QueryParameter
from litestar.response import File
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from engine.orders import OrderStatus
from projections import queries
from projections.credit import Credit
from projections.db import Database
from projections.logistics import Logistics
from projections.projection import Projection
from projections.runner import ProjectionStatus

DASHBOARD_DIR: Final = Path(__file__).with_name("dashboard")
LOW_STOCK_BELOW_DEFAULT: Final = 10
LOW_STOCK_BELOW_MAX: Final = 1_000_000_000
# The page lists this many slots at most, the lowest first; counts cover every slot scanned.
STOCK_ROWS_SHOWN_MAX: Final = 200
REVIEW_ITEMS_SHOWN_MAX: Final = 10
# A refresh reads at most this many rows of a read model; past it, a figure says `complete: false`.
ROWS_SCANNED_MAX: Final = 200_000

_SHIPPED: Final = frozenset(
    {
        OrderStatus.PARTIALLY_SHIPPED,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.RETURNED,
    }
)

Level = Literal["below_safety", "low", "ok"]
_LEVEL_ORDER: Final[dict[str, int]] = {"below_safety": 0, "low": 1, "ok": 2}

R = TypeVar("R")


class StockRow(msgspec.Struct, frozen=True, kw_only=True):
    """`below_safety`: on hand minus reserved is under safety stock (available < 0);
    `low`: available under the dashboard's threshold."""

    sku: str
    location: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int
    level: Level


class Stock(msgspec.Struct, frozen=True, kw_only=True):
    low_below: int
    slots: int
    low: int
    below_safety: int
    rows: list[StockRow]
    complete: bool


class Funnel(msgspec.Struct, frozen=True, kw_only=True):
    """Orders placed and confirmed (from daily revenue), shipped (at least one shipment)."""

    placed: int
    confirmed: int
    shipped: int
    by_status: dict[str, int]
    complete: bool


class NotAvailable(msgspec.Struct, frozen=True, kw_only=True, tag_field="state", tag="n/a"):
    """A section whose read model has not landed; `reason` names what it waits for."""

    reason: str


class ReviewQueue(msgspec.Struct, frozen=True, kw_only=True, tag_field="state", tag="available"):
    """Open credit reviews: how many, and the longest waiting."""

    length: int
    oldest: list[queries.ReviewItem]
    complete: bool


class FulfilmentBacklog(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="state", tag="available"
):
    """What each location has still to ship; an order may wait at several locations."""

    lines: int
    units: int
    locations: list[queries.Backlog]


class DashboardData(msgspec.Struct, frozen=True, kw_only=True):
    generated_at: str
    stock: Stock
    funnel: Funnel
    review_queue: ReviewQueue | NotAvailable
    backlog: FulfilmentBacklog | NotAvailable
    lag: list[ProjectionStatus]


def _scan(fetch: Callable[[int, int], Sequence[R]], rows_max: int) -> tuple[list[R], bool]:
    """Every row a paged query gives, up to `rows_max`; and whether that was all of them."""
    rows: list[R] = []
    while len(rows) < rows_max:
        limit = min(queries.LIMIT_MAX, rows_max - len(rows))
        page = fetch(limit, len(rows))
        rows += page
        if len(page) < limit:
            return rows, True
    return rows, not fetch(1, len(rows))


def _level(slot: queries.StockLevel, low_below: int) -> Level:
    if slot.available < 0:
        return "below_safety"
    return "low" if slot.available < low_below else "ok"


def gather_stock(db: Database, low_below: int, rows_max: int = ROWS_SCANNED_MAX) -> Stock:
    slots, complete = _scan(
        lambda limit, offset: queries.stock(db, limit=limit, offset=offset), rows_max
    )
    rows = [
        StockRow(
            sku=s.sku,
            location=s.location,
            on_hand=s.on_hand,
            reserved=s.reserved,
            safety_stock=s.safety_stock,
            available=s.available,
            level=_level(s, low_below),
        )
        for s in slots
    ]
    levels = [row.level for row in rows]
    rows.sort(key=lambda row: _LEVEL_ORDER[row.level])  # stable: key order within a level
    return Stock(
        low_below=low_below,
        slots=len(rows),
        low=levels.count("low"),
        below_safety=levels.count("below_safety"),
        rows=rows[:STOCK_ROWS_SHOWN_MAX],
        complete=complete,
    )


def gather_funnel(db: Database, rows_max: int = ROWS_SCANNED_MAX) -> Funnel:
    days, days_complete = _scan(
        lambda limit, offset: queries.daily_revenue(db, limit=limit, offset=offset), rows_max
    )
    ledger, ledger_complete = _scan(
        lambda limit, offset: queries.orders(db, limit=limit, offset=offset), rows_max
    )
    by_status: dict[str, int] = {}
    for row in ledger:
        by_status[row.status] = by_status.get(row.status, 0) + 1
    return Funnel(
        placed=sum(day.orders_placed for day in days),
        confirmed=sum(day.orders_confirmed for day in days),
        shipped=sum(n for s, n in by_status.items() if s in _SHIPPED),
        by_status=dict(sorted(by_status.items())),
        complete=days_complete and ledger_complete,
    )


def _missing(db: Database, projection: Projection) -> NotAvailable | None:
    if all(db.table_exists(table.name) for table in projection.tables):
        return None
    return NotAvailable(
        reason=f"the {projection.name} read model is not built in this database: "
        f"run `stockledger project run` with the {projection.name} projection"
    )


def gather_review_queue(
    db: Database, rows_max: int = ROWS_SCANNED_MAX
) -> ReviewQueue | NotAvailable:
    missing = _missing(db, Credit())
    if missing is not None:
        return missing
    items, complete = _scan(
        lambda limit, offset: queries.review_queue(db, limit=limit, offset=offset), rows_max
    )
    return ReviewQueue(length=len(items), oldest=items[:REVIEW_ITEMS_SHOWN_MAX], complete=complete)


def gather_backlog(db: Database) -> FulfilmentBacklog | NotAvailable:
    missing = _missing(db, Logistics())
    if missing is not None:
        return missing
    locations = queries.backlog(db)
    return FulfilmentBacklog(
        lines=sum(b.lines for b in locations),
        units=sum(b.units for b in locations),
        locations=locations,
    )


def gather(db: Database, low_below: int, lag: list[ProjectionStatus]) -> DashboardData:
    """Every figure of the dashboard, read now, beside the projections' `lag`."""
    return DashboardData(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        lag=lag,
        stock=gather_stock(db, low_below),
        funnel=gather_funnel(db),
        review_queue=gather_review_queue(db),
        backlog=gather_backlog(db),
    )


@get("/dashboard/data", summary="Dashboard figures")
async def get_dashboard_data(
    request: Request[Any, Any, Any],
    low_below: Annotated[
        int,
        QueryParameter(
            ge=0,
            le=LOW_STOCK_BELOW_MAX,
            description="A slot is low when its available quantity is under this.",
        ),
    ] = LOW_STOCK_BELOW_DEFAULT,
) -> DashboardData:
    state = request.app.state
    # The app's read models (`engine.http.reads.ReadModels`) and their threads'
    # connections, so a page refreshing every few seconds opens none of its own;
    # the lag is read now, as the page shows it beside the other figures.
    head = await anyio.to_thread.run_sync(state.recorder.max_notification_id)
    lag = await state.read_models.lag(state.recorder, head or 0, max_age_s=0.0)
    data: DashboardData = await state.read_models.read(gather, low_below, lag)
    return data


@get("/", include_in_schema=False, media_type=MediaType.HTML)
async def get_dashboard() -> File:
    return File(DASHBOARD_DIR / "index.html", content_disposition_type="inline")


DASHBOARD_HANDLERS: Final[list[ControllerRouterHandler]] = [
    get_dashboard,
    get_dashboard_data,
    create_static_files_router("/static", directories=[DASHBOARD_DIR], name="dashboard"),
]
