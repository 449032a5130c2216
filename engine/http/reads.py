"""The read API for ops: GET every read model, with filters and paging.

Each handler is one function of `projections.queries`, its Structs answered
as they are (Litestar encodes them with msgspec). Lists are paged by `limit`
(at most `queries.LIMIT_MAX`) and `offset` (at most `OFFSET_MAX`); a
parameter out of its range or of the wrong type is a 422 naming it; an
unknown SKU or order id is a 404.

Queries run on `READ_THREADS` worker threads, each with its own read-only
connection, so a slow read (PostgreSQL across a network, a big page) never
holds up the event loop. asyncio's own executor hands a call over in about
half the time anyio's thread pool takes, which is the difference between
3,600 and 6,000 requests/s on two cores. A lookup by key (a few rows of
one index: a SKU's slots, an order, a credit account) on SQLite runs on the
event loop itself, on a read-only connection of its own: the query takes a
few microseconds, less than the hand-over to a thread and back.

Projection lag for /health runs on one more thread with a writable
connection: the runner's `status` makes sure the checkpoint table exists
before it reads it, which takes the write lock. So the checkpoints are read
at most once every `LAG_CHECKPOINTS_FRESH_S` (however many health checks
come in), and each check measures the lag from them to the store's head as
it reads it: a lag is never more than that interval's worth of projecting
out of date.
The intake's token guard is on the intake's router only: a read endpoint
that needs one takes `TokenGuard` itself.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import partial
from typing import Annotated, Any, Final, TypeVar

import msgspec
import psycopg
from eventsourcing.persistence import ApplicationRecorder
from litestar import Request, Response, Router, get
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ControllerRouterHandler

from engine.http.dashboard import LOW_STOCK_BELOW_MAX
from engine.orders import OrderStatus
from engine.stock.limits import StockLimits
from projections import queries, select
from projections.clock import DAY_S, NoDayZeroError, logical_day
from projections.db import Database
from projections.runner import ProjectionStatus, ensure_schema, status

READ_THREADS: Final = 4
OFFSET_MAX: Final = 1_000_000_000
PAGE_DEFAULT: Final = 100
# The engine's logical clock stops at `clock_max` seconds: no day comes after this one.
LOGICAL_DAY_MAX: Final = StockLimits().clock_max // DAY_S
# How long /health answers from checkpoints it has read (the read takes the write lock).
LAG_CHECKPOINTS_FRESH_S: Final = 0.5

T = TypeVar("T")

Limit = Annotated[
    int, QueryParameter(ge=1, le=queries.LIMIT_MAX, description="Rows at most (a page).")
]
Offset = Annotated[int, QueryParameter(ge=0, le=OFFSET_MAX, description="Rows to skip.")]
Location = Annotated[str | None, QueryParameter(description="One location only.")]
Customer = Annotated[str | None, QueryParameter(description="One customer's only.")]
Per = Annotated[str, QueryParameter(description="hour or day.")]
SinceDay = Annotated[date | None, QueryParameter(description="From this UTC day on.")]
SinceHour = Annotated[
    str | None, QueryParameter(description="From this UTC hour (YYYY-MM-DDTHH) or day on.")
]


class ReadModels:
    """The read-model database the API answers from, and the threads that query it."""

    def __init__(self, url: str, clock_s: Callable[[], float] = time.monotonic) -> None:
        """Raises `DatabaseURLError` for a URL that names no database it can open.

        `clock_s` times how long checkpoints read for /health stay fresh.
        """
        self.url = url
        with Database(url) as db:
            self._lookups_on_loop = db.dialect == "sqlite"
        self._local = threading.local()
        self._reads = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="reads")
        # One thread, one writable connection: the runner's `status` and the schema.
        self._status = ThreadPoolExecutor(1, thread_name_prefix="read-models-status")
        self._clock_s = clock_s
        self._checkpoints: list[ProjectionStatus] = []
        self._checkpoints_read_s = -LAG_CHECKPOINTS_FRESH_S
        self._checkpoints_reading = asyncio.Lock()

    def _connection(self, read_only: bool) -> Database:
        """This thread's connection; each thread's goes when the thread ends."""
        db: Database | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = Database(self.url)
            if read_only and db.dialect == "sqlite":
                db.execute("PRAGMA query_only = ON")
            elif read_only:
                db.execute("SET default_transaction_read_only = on")
        return db

    def _read(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return query(self._connection(read_only=True), *args, **kwargs)

    async def read(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`query(db, *args, **kwargs)` on a worker thread's read-only connection."""
        call = partial(self._read, query, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._reads, call)

    async def look_up(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`read` for a query of a few rows by key: on SQLite, right here on the event loop.

        In WAL mode a reader neither waits for the runner's writes nor holds
        them up, and each query is its own transaction, so it sees every
        batch committed before it. PostgreSQL is a network round trip away:
        there it goes to a worker thread like any read.
        """
        if self._lookups_on_loop:
            return self._read(query, *args, **kwargs)
        return await self.read(query, *args, **kwargs)

    def _prepare(self, partition: int) -> None:
        ensure_schema(self._connection(read_only=False), select(), partition)

    async def prepare(self, partition: int) -> None:
        """Create the read models' tables if missing: reads of an unbuilt database are empty."""
        await asyncio.get_running_loop().run_in_executor(self._status, self._prepare, partition)

    def _lag(self, recorder: ApplicationRecorder) -> list[ProjectionStatus]:
        return status(self._connection(read_only=False), recorder, select())

    def _fresh(self, max_age_s: float) -> bool:
        return self._clock_s() - self._checkpoints_read_s < max_age_s

    async def lag(
        self,
        recorder: ApplicationRecorder,
        head: int,
        max_age_s: float = LAG_CHECKPOINTS_FRESH_S,
    ) -> list[ProjectionStatus]:
        """Each projection's checkpoint (read at most `max_age_s` ago) and its lag
        behind `head`, the newest notification id of `recorder`'s store."""
        if not self._fresh(max_age_s):
            # One read for every check that finds the checkpoints stale at once.
            async with self._checkpoints_reading:
                if not self._fresh(max_age_s):
                    loop = asyncio.get_running_loop()
                    self._checkpoints = await loop.run_in_executor(
                        self._status, self._lag, recorder
                    )
                    self._checkpoints_read_s = self._clock_s()
        return [
            msgspec.structs.replace(p, head=head, lag=max(0, head - p.checkpoint))
            for p in self._checkpoints
        ]

    def close(self) -> None:
        """Stop the threads; from the event loop's thread, close its connection too."""
        self._reads.shutdown()
        self._status.shutdown()
        db: Database | None = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            del self._local.db


def _read_models(request: Request[Any, Any, Any]) -> ReadModels:
    # Handlers take the request rather than `state: State`: Litestar makes a new
    # State, lock and all, for every request to a handler that asks for one,
    # about 3 us of the 45 a lookup costs in the app.
    read_models: ReadModels = request.app.state.read_models
    return read_models


@get("/stock", summary="Stock levels of every slot")
async def get_stock_levels(
    request: Request[Any, Any, Any],
    location: Location = None,
    below: Annotated[
        int | None,
        QueryParameter(
            ge=-LOW_STOCK_BELOW_MAX,
            le=LOW_STOCK_BELOW_MAX,
            description="Only slots whose available quantity is under this (0: under safety).",
        ),
    ] = None,
    limit: Limit = PAGE_DEFAULT,
    offset: Offset = 0,
) -> list[queries.StockLevel]:
    """Every slot (SKU x location) in SKU order, or those at one location, or those low."""
    if below is not None:
        return await _read_models(request).read(
            queries.low_stock, below, location=location, limit=limit, offset=offset
        )
    return await _read_models(request).read(
        queries.stock, location=location, limit=limit, offset=offset
    )


@get("/stock/{sku:str}", summary="Stock of one SKU")
async def get_stock(
    request: Request[Any, Any, Any], sku: FromPath[str], location: Location = None
) -> list[queries.StockLevel]:
    """One SKU at each of its locations (or at one); 404 for a SKU with no stock slot."""
    found = await _read_models(request).look_up(queries.stock, sku, location=location)
    if not found:
        where = f" at {location!r}" if location is not None else ""
        raise NotFoundException(f"no stock of SKU {sku!r}{where}")
    return found


@get("/stock/{sku:str}/{location:str}/movements", summary="Movements of one slot")
async def get_movements(
    request: Request[Any, Any, Any],
    sku: FromPath[str],
    location: FromPath[str],
    limit: Limit = PAGE_DEFAULT,
    offset: Offset = 0,
) -> list[queries.Movement]:
    """The slot's on-hand ledger, oldest first; 404 for a slot that does not exist."""
    read_models = _read_models(request)
    if not await read_models.look_up(queries.stock, sku, location=location):
        raise NotFoundException(f"no stock of SKU {sku!r} at {location!r}")
    return await read_models.read(queries.movements, sku, location, limit=limit, offset=offset)


@get("/orders", summary="The order ledger")
async def get_orders(
    request: Request[Any, Any, Any],
    status: FromQuery[OrderStatus | None] = None,
    customer: Annotated[str | None, QueryParameter(description="One customer's orders.")] = None,
    limit: Limit = PAGE_DEFAULT,
    offset: Offset = 0,
) -> list[queries.OrderRow]:
    """Orders in order-id order, filtered by status and customer."""
    return await _read_models(request).read(
        queries.orders,
        status=None if status is None else status.value,
        customer_id=customer,
        limit=limit,
        offset=offset,
    )


@get("/orders/{order_id:str}", summary="One order")
async def get_order(request: Request[Any, Any, Any], order_id: FromPath[str]) -> queries.OrderRow:
    """One order's status and totals; 404 for an unknown order id."""
    found = await _read_models(request).look_up(queries.order, order_id)
    if found is None:
        raise NotFoundException(f"no order {order_id!r}")
    return found


@get("/revenue", summary="Daily revenue")
async def get_revenue(
    request: Request[Any, Any, Any],
    since: SinceDay = None,
    limit: Limit = PAGE_DEFAULT,
    offset: Offset = 0,
) -> list[queries.DailyRevenue]:
    """One row per UTC day, oldest first."""
    day = None if since is None else since.isoformat()
    return await _read_models(request).read(
        queries.daily_revenue, since=day, limit=limit, offset=offset
    )


@get("/customers/{customer_id:str}", summary="One customer")
async def get_customer(
    request: Request[Any, Any, Any], customer_id: FromPath[str]
) -> queries.CustomerSummary:
    """Orders, lifetime value and return rate; 404 for an unknown customer."""
    found = await _read_models(request).read(queries.customer, customer_id)
    if found is None:
        raise NotFoundException(f"no customer {customer_id!r}")
    return found


@get("/review-queue", summary="The credit review queue")
async def get_review_queue(
    request: Request[Any, Any, Any],
    status: Annotated[str, QueryParameter(description="Reviews in this status.")] = "open",
    limit: Limit = PAGE_DEFAULT,
    offset: Offset = 0,
) -> list[queries.ReviewItem]:
    """Orders held for the credit analysts."""
    return await _read_models(request).read(
        queries.review_queue, status=status, limit=limit, offset=offset
    )


@get("/backlog", summary="The fulfilment backlog per location")
async def get_backlog(request: Request[Any, Any, Any]) -> list[queries.Backlog]:
    return await _read_models(request).read(queries.backlog)


@get("/backlog/{location:str}", summary="One location's pick list")
async def get_pick_list(
    request: Request[Any, Any, Any],
    location: FromPath[str],
    limit: Limit = PAGE_DEFAULT,
    offset: Offset = 0,
) -> list[queries.PickLine]:
    return await _read_models(request).read(queries.pick_list, location, limit=limit, offset=offset)


@get("/call-list", summary="Telesales' call list")
async def get_call_list(
    request: Request[Any, Any, Any],
    reason: Annotated[str | None, QueryParameter(description="Only calls for this reason.")] = None,
    customer: Customer = None,
    limit: Limit = PAGE_DEFAULT,
    offset: Offset = 0,
) -> list[queries.Call]:
    """Credit-held orders and expired holds, with customer and value."""
    return await _read_models(request).read(
        queries.call_list, reason=reason, customer_id=customer, limit=limit, offset=offset
    )


@get("/orders/{order_id:str}/picks", summary="One order's pick lines")
async def get_order_picks(
    request: Request[Any, Any, Any],
    order_id: FromPath[str],
    limit: Limit = PAGE_DEFAULT,
    offset: Offset = 0,
) -> list[queries.PickLine]:
    """Every stock hold of the order, whatever became of it; 404 for an unknown order id."""
    read_models = _read_models(request)
    if await read_models.look_up(queries.order, order_id) is None:
        raise NotFoundException(f"no order {order_id!r}")
    return await read_models.read(queries.pick_lines, order_id, limit=limit, offset=offset)


@get("/shipments", summary="Shipments")
async def get_shipments(
    request: Request[Any, Any, Any],
    location: Annotated[str | None, QueryParameter(description="From one location only.")] = None,
    order: Annotated[str | None, QueryParameter(description="One order's only.")] = None,
    limit: Limit = PAGE_DEFAULT,
    offset: Offset = 0,
) -> list[queries.Shipment]:
    """Shipments, oldest first, with their delivery."""
    return await _read_models(request).read(
        queries.shipments, location=location, order_id=order, limit=limit, offset=offset
    )


@get("/customers", summary="Every customer's totals")
async def get_customers(
    request: Request[Any, Any, Any], limit: Limit = PAGE_DEFAULT, offset: Offset = 0
) -> list[queries.CustomerSummary]:
    """Customers by id: orders, lifetime value, return rate."""
    return await _read_models(request).read(queries.customers, limit=limit, offset=offset)


@get("/customers/{customer_id:str}/orders", summary="One customer's orders")
async def get_customer_orders(
    request: Request[Any, Any, Any],
    customer_id: FromPath[str],
    limit: Limit = PAGE_DEFAULT,
    offset: Offset = 0,
) -> list[queries.CustomerOrder]:
    """The customer's order history, oldest first; 404 for an unknown customer."""
    read_models = _read_models(request)
    if await read_models.read(queries.customer, customer_id) is None:
        raise NotFoundException(f"no customer {customer_id!r}")
    return await read_models.read(queries.customer_orders, customer_id, limit=limit, offset=offset)


@get("/exposures", summary="Every customer's credit exposure")
async def get_exposures(
    request: Request[Any, Any, Any], limit: Limit = PAGE_DEFAULT, offset: Offset = 0
) -> list[queries.Exposure]:
    return await _read_models(request).read(queries.exposures, limit=limit, offset=offset)


@get("/exposures/{customer_id:str}", summary="One customer's credit exposure")
async def get_exposure(
    request: Request[Any, Any, Any], customer_id: FromPath[str]
) -> queries.Exposure:
    """Limit, uninvoiced and unpaid amounts; 404 for a customer with no credit account."""
    found = await _read_models(request).look_up(queries.exposure, customer_id)
    if found is None:
        raise NotFoundException(f"no credit account of customer {customer_id!r}")
    return found


@get("/credit-decisions", summary="Credit decisions")
async def get_credit_decisions(
    request: Request[Any, Any, Any],
    customer: Customer = None,
    limit: Limit = PAGE_DEFAULT,
    offset: Offset = 0,
) -> list[queries.CreditDecision]:
    """The policy's and the analysts' decisions, oldest first."""
    return await _read_models(request).read(
        queries.credit_decisions, customer_id=customer, limit=limit, offset=offset
    )


@get("/planning", summary="Velocity, cover and reorder units per SKU")
async def get_planning(
    request: Request[Any, Any, Any], limit: Limit = PAGE_DEFAULT, offset: Offset = 0
) -> list[queries.SkuPlan]:
    """Every SKU over its locations, by SKU."""
    return await _read_models(request).read(queries.planning, limit=limit, offset=offset)


@get("/planning/{sku:str}", summary="Velocity, cover and reorder units of one SKU")
async def get_sku_plan(request: Request[Any, Any, Any], sku: FromPath[str]) -> queries.SkuPlan:
    """404 for a SKU the planning read model has no stock slot of."""
    found = await _read_models(request).read(queries.planning, sku)
    if not found:
        raise NotFoundException(f"no stock of SKU {sku!r} to plan")
    return found[0]


@get("/reorder-suggestions", summary="The SKUs to reorder now")
async def get_reorder_suggestions(
    request: Request[Any, Any, Any], limit: Limit = PAGE_DEFAULT, offset: Offset = 0
) -> list[queries.SkuPlan]:
    """SKUs whose reorder units are above 0, by SKU."""
    return await _read_models(request).read(queries.reorder_suggestions, limit=limit, offset=offset)


def _choose(key: str, values: Sequence[str], choices: Collection[str]) -> None:
    """A 422 naming `key` for a value not among `choices`."""
    unknown = [value for value in values if value not in choices]
    if unknown:
        message = f"{key} {unknown} is not one of {sorted(choices)}"
        raise ValidationException(message, extra=[{"key": key, "message": message}])


@get("/kpis", summary="Marketing KPIs")
async def get_kpis(
    request: Request[Any, Any, Any],
    by: Annotated[
        list[str] | None,
        QueryParameter(description="Group by channel, campaign or both (repeat); default both."),
    ] = None,
    since: Annotated[
        int | None,
        QueryParameter(ge=0, le=LOGICAL_DAY_MAX, description="From this logical day on."),
    ] = None,
    since_date: Annotated[
        date | None,
        QueryParameter(
            description="From this date on (instead of since): the logical clock has no "
            "calendar, so a date counts from day zero, the UTC date of the first event the "
            "read model folded (GET /kpis/day-zero)."
        ),
    ] = None,
    per_day: Annotated[bool, QueryParameter(description="One row per logical day.")] = True,
    limit: Limit = PAGE_DEFAULT,
    offset: Offset = 0,
) -> list[queries.MarketingRow]:
    """Orders, revenue, average order value, conversion, cancellation and return rates
    per logical day of placement (day 0: the clock's first), by channel and campaign."""
    groups = queries.MARKETING_GROUPS if by is None else tuple(by)
    _choose("by", groups, queries.MARKETING_GROUPS)
    read = _read_models(request).read
    if since_date is not None:
        if since is not None:
            message = "since_date: give since (a logical day) or since_date, not both"
            raise ValidationException(message, extra=[{"key": "since_date", "message": message}])
        since = _logical_day("since_date", since_date, await read(queries.marketing_day_zero))
    return await read(
        queries.marketing,
        by=groups,
        per_day=per_day,
        since_day=since,
        limit=limit,
        offset=offset,
    )


class DayZero(msgspec.Struct, frozen=True, kw_only=True):
    """The UTC date of logical day 0 the marketing read model recorded; null before any."""

    day_zero: date | None


@get("/kpis/day-zero", summary="The date logical day 0 of the KPIs stands for")
async def get_kpis_day_zero(request: Request[Any, Any, Any]) -> DayZero:
    """The UTC date (envelopes' wall clock) of the first event the marketing read
    model folded: logical day N of the KPIs is this date plus N days."""
    return DayZero(day_zero=await _read_models(request).read(queries.marketing_day_zero))


def _logical_day(key: str, asked: date, day_zero: date | None) -> int:
    try:
        return logical_day(asked.isoformat(), day_zero)
    except NoDayZeroError as error:
        message = f"{key}: {error}"
        raise ValidationException(message, extra=[{"key": key, "message": message}]) from None


@get("/throughput", summary="Events per topic and hour or day")
async def get_throughput(
    request: Request[Any, Any, Any],
    per: Per = "hour",
    since: SinceHour = None,
    limit: Limit = PAGE_DEFAULT,
    offset: Offset = 0,
) -> list[queries.Throughput]:
    """What the platform carried, oldest first, on the envelopes' wall clock."""
    _choose("per", [per], queries.THROUGHPUT_PERIODS)
    return await _read_models(request).read(
        queries.throughput, per=per, since=since, limit=limit, offset=offset
    )


@get("/platform", summary="Commands and events per hour or day, and dead letters")
async def get_platform(
    request: Request[Any, Any, Any],
    per: Per = "hour",
    since: SinceHour = None,
    limit: Limit = PAGE_DEFAULT,
    offset: Offset = 0,
) -> queries.PlatformFigures:
    """Commands the engine answered and events it wrote per period (paged, oldest
    first, on the envelopes' wall clock), and each consumer's dead letters."""
    _choose("per", [per], queries.THROUGHPUT_PERIODS)
    return await _read_models(request).read(
        queries.platform, per=per, since=since, limit=limit, offset=offset
    )


@get("/rejections", summary="Rejections by reason")
async def get_rejections(
    request: Request[Any, Any, Any],
    since: SinceDay = None,
    event: Annotated[str | None, QueryParameter(description="One rejection event type.")] = None,
    limit: Limit = PAGE_DEFAULT,
    offset: Offset = 0,
) -> list[queries.Rejection]:
    """Rejections per UTC day by event type, command and reason, oldest first."""
    day = None if since is None else since.isoformat()
    return await _read_models(request).read(
        queries.rejections, since_day=day, event=event, limit=limit, offset=offset
    )


def _unprocessable(_: Request[Any, Any, Any], error: ValidationException) -> Response[Any]:
    """A parameter the API cannot use: 422 (Litestar says 400), naming it."""
    body = {"status_code": HTTP_422_UNPROCESSABLE_ENTITY, "detail": error.detail}
    if error.extra:
        body["extra"] = error.extra
    return Response(body, status_code=HTTP_422_UNPROCESSABLE_ENTITY)


def _unavailable(_: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    detail = f"the read-model database failed: {error}"
    return Response(
        {"status_code": HTTP_503_SERVICE_UNAVAILABLE, "detail": detail},
        status_code=HTTP_503_SERVICE_UNAVAILABLE,
    )


_HANDLERS: Final[Sequence[ControllerRouterHandler]] = (
    get_stock_levels,
    get_stock,
    get_movements,
    get_orders,
    get_order,
    get_revenue,
    get_customer,
    get_review_queue,
    get_backlog,
    get_pick_list,
    get_call_list,
    get_order_picks,
    get_shipments,
    get_customers,
    get_customer_orders,
    get_exposures,
    get_exposure,
    get_credit_decisions,
    get_planning,
    get_sku_plan,
    get_reorder_suggestions,
    get_kpis,
    get_kpis_day_zero,
    get_throughput,
    get_platform,
    get_rejections,
)

READ_HANDLERS: Final[list[ControllerRouterHandler]] = [
    Router(
        "/",
        route_handlers=list(_HANDLERS),
        exception_handlers={
            ValidationException: _unprocessable,
            sqlite3.Error: _unavailable,
            psycopg.Error: _unavailable,
        },
        tags=["read models"],
    )
]
