"""`stockledger query`: the read models for people (Rich tables) and for scripts (--json).

Each command is one function of `projections.queries` over the database that
`--db` names (or `STOCKLEDGER_READ_DB`), as `stockledger project` builds it.
What a command cannot answer ends with exit 1 and a line on stderr that says
what was missing and what to do: an unknown SKU or order, read models not
built yet. Amounts in cents print as currency units in tables; --json keeps
the Structs' own fields, cents included.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any, NoReturn

import msgspec
import psycopg
import typer
from rich.console import Console
from rich.table import Table

from engine.http.dashboard import LOW_STOCK_BELOW_DEFAULT, LOW_STOCK_BELOW_MAX
from engine.http.reads import LOGICAL_DAY_MAX
from engine.orders import OrderStatus
from projections import queries
from projections.cli import DbOption, JsonOption
from projections.clock import DAY_PREFIX, NoDayZeroError, logical_day
from projections.db import DEFAULT_DB_URL, Database, DatabaseURLError

query_app = typer.Typer(
    help="Query the read models: tables for people, --json for scripts.", no_args_is_help=True
)
console = Console()

LimitOption = Annotated[
    int, typer.Option(min=1, max=queries.LIMIT_MAX, help="Rows at most (a page).")
]
OffsetOption = Annotated[int, typer.Option(min=0, help="Rows to skip (the page's start).")]
PerOption = Annotated[str, typer.Option(help="Per hour or per day.")]
SinceHourOption = Annotated[
    str | None, typer.Option(help="From this UTC hour (YYYY-MM-DDTHH) or day on.")
]
CENTS_SUFFIX = "_cents"


def _fail(message: str) -> NoReturn:
    typer.echo(f"stockledger query: {message}", err=True)
    raise typer.Exit(1)


@contextmanager
def _read_models(db_url: str) -> Iterator[Database]:
    try:
        db = Database(db_url)
    except DatabaseURLError as error:
        raise typer.BadParameter(str(error), param_hint="--db") from None
    try:
        yield db
    except (sqlite3.OperationalError, psycopg.errors.UndefinedTable) as error:
        _fail(
            f"cannot read the read models in {db_url} ({error}); "
            f"build them first: stockledger project run --db {db_url}"
        )
    finally:
        db.close()


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and name.endswith(CENTS_SUFFIX):
        return f"{value / 100:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _heading(name: str) -> str:
    return name.removesuffix(CENTS_SUFFIX).replace("_", " ")


def _print_rows(rows: Sequence[msgspec.Struct], title: str) -> None:
    names = type(rows[0]).__struct_fields__
    table = Table(title=title)
    for name in names:
        numeric = isinstance(getattr(rows[0], name), int | float)
        table.add_column(_heading(name), justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*(_cell(name, getattr(row, name)) for name in names))
    console.print(table)


def _print_record(record: msgspec.Struct, title: str) -> None:
    table = Table(title=title, show_header=False)
    table.add_column()
    table.add_column()
    for name in record.__struct_fields__:
        table.add_row(_heading(name), _cell(name, getattr(record, name)))
    console.print(table)


def _emit(found: Sequence[msgspec.Struct] | msgspec.Struct, title: str, as_json: bool) -> None:
    if as_json:
        typer.echo(msgspec.json.encode(found).decode())
    elif isinstance(found, msgspec.Struct):
        _print_record(found, title)
    elif found:
        _print_rows(found, title)
    else:
        console.print(f"{title}: none")


@query_app.command("stock")
def stock_command(
    sku: Annotated[str, typer.Argument(help="The SKU.")],
    location: Annotated[str | None, typer.Option(help="One location only.")] = None,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """A SKU's stock at each location: on hand, reserved, available."""
    with _read_models(db) as database:
        levels = queries.stock(database, sku, location=location)
    if not levels:
        where = f" at {location!r}" if location is not None else ""
        _fail(f"no stock of SKU {sku!r}{where} in the read models (see `query stock-all`)")
    _emit(levels, f"stock of {sku}", as_json)


@query_app.command("stock-all")
def stock_all_command(
    location: Annotated[str | None, typer.Option(help="One location only.")] = None,
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """Every slot's stock (SKU x location), in SKU order, a page at a time."""
    with _read_models(db) as database:
        levels = queries.stock(database, location=location, limit=limit, offset=offset)
    _emit(levels, "stock", as_json)


@query_app.command("movements")
def movements_command(
    sku: Annotated[str, typer.Argument(help="The SKU.")],
    location: Annotated[str, typer.Argument(help="The location.")],
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """The on-hand ledger of one slot, oldest first: every receipt, adjustment, shipment."""
    with _read_models(db) as database:
        if not queries.stock(database, sku, location=location):
            _fail(f"no stock of SKU {sku!r} at {location!r} in the read models")
        moved = queries.movements(database, sku, location, limit=limit, offset=offset)
    _emit(moved, f"movements of {sku} at {location}", as_json)


@query_app.command("order")
def order_command(
    order_id: Annotated[str, typer.Argument(help="The order id.")],
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """One order: its status, lines, units and totals."""
    with _read_models(db) as database:
        found = queries.order(database, order_id)
    if found is None:
        _fail(f"no order {order_id!r} in the read models (see `query orders`)")
    _emit(found, f"order {order_id}", as_json)


@query_app.command("orders")
def orders_command(
    status: Annotated[OrderStatus | None, typer.Option(help="Only orders in this status.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer's orders.")] = None,
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """The order ledger in order-id order, filtered by status and customer, a page at a time."""
    with _read_models(db) as database:
        found = queries.orders(
            database,
            status=None if status is None else status.value,
            customer_id=customer,
            limit=limit,
            offset=offset,
        )
    _emit(found, "orders", as_json)


@query_app.command("revenue")
def revenue_command(
    since: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="From this UTC day on.")
    ] = None,
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """Daily revenue: orders placed, confirmed and lost, revenue and credits per UTC day."""
    day = None if since is None else since.date().isoformat()
    with _read_models(db) as database:
        found = queries.daily_revenue(database, since=day, limit=limit, offset=offset)
    _emit(found, "daily revenue", as_json)


@query_app.command("customer")
def customer_command(
    customer_id: Annotated[str, typer.Argument(help="The customer id.")],
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """One customer: orders, lifetime value, return rate."""
    with _read_models(db) as database:
        found = queries.customer(database, customer_id)
    if found is None:
        _fail(f"no customer {customer_id!r} in the read models")
    _emit(found, f"customer {customer_id}", as_json)


@query_app.command("review-queue")
def review_queue_command(
    status: Annotated[str, typer.Option(help="Reviews in this status.")] = "open",
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """The credit analysts' queue: orders held for review."""
    with _read_models(db) as database:
        found = queries.review_queue(database, status=status, limit=limit, offset=offset)
    _emit(found, f"credit review queue ({status})", as_json)


@query_app.command("backlog")
def backlog_command(
    location: Annotated[
        str | None, typer.Argument(help="A location: its pick list. None: every location.")
    ] = None,
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """The fulfilment backlog per location, or one location's pick list."""
    with _read_models(db) as database:
        if location is None:
            _emit(queries.backlog(database), "fulfilment backlog", as_json)
            return
        found = queries.pick_list(database, location, limit=limit, offset=offset)
    _emit(found, f"pick list at {location}", as_json)


@query_app.command("call-list")
def call_list_command(
    reason: Annotated[str | None, typer.Option(help="Only calls for this reason.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer's.")] = None,
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """Telesales' call list: credit-held orders and expired holds, with customer and value."""
    with _read_models(db) as database:
        found = queries.call_list(
            database, reason=reason, customer_id=customer, limit=limit, offset=offset
        )
    _emit(found, "call list", as_json)


@query_app.command("low-stock")
def low_stock_command(
    below: Annotated[
        int,
        typer.Option(
            min=-LOW_STOCK_BELOW_MAX,
            max=LOW_STOCK_BELOW_MAX,
            help="Slots whose available quantity is under this (0: under safety stock).",
        ),
    ] = LOW_STOCK_BELOW_DEFAULT,
    location: Annotated[str | None, typer.Option(help="One location only.")] = None,
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """The slots low on stock, in SKU order, as the dashboard highlights them."""
    with _read_models(db) as database:
        found = queries.low_stock(database, below, location=location, limit=limit, offset=offset)
    _emit(found, f"stock available under {below:,}", as_json)


@query_app.command("exposure")
def exposure_command(
    customer_id: Annotated[str, typer.Argument(help="The customer id.")],
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """One customer's credit: limit, uninvoiced and unpaid amounts, invoices."""
    with _read_models(db) as database:
        found = queries.exposure(database, customer_id)
    if found is None:
        _fail(f"no credit account of customer {customer_id!r} in the read models")
    _emit(found, f"credit exposure of {customer_id}", as_json)


@query_app.command("exposures")
def exposures_command(
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """Every customer's credit exposure, by customer id, a page at a time."""
    with _read_models(db) as database:
        found = queries.exposures(database, limit=limit, offset=offset)
    _emit(found, "credit exposures", as_json)


@query_app.command("credit-decisions")
def credit_decisions_command(
    customer: Annotated[str | None, typer.Option(help="Only this customer's.")] = None,
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """Credit decisions, oldest first: the policy's and the analysts'."""
    with _read_models(db) as database:
        found = queries.credit_decisions(database, customer_id=customer, limit=limit, offset=offset)
    _emit(found, "credit decisions", as_json)


@query_app.command("picks")
def picks_command(
    order_id: Annotated[str, typer.Argument(help="The order id.")],
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """Every stock hold of an order (its pick lines), whatever became of it."""
    with _read_models(db) as database:
        if queries.order(database, order_id) is None:
            _fail(f"no order {order_id!r} in the read models (see `query orders`)")
        found = queries.pick_lines(database, order_id, limit=limit, offset=offset)
    _emit(found, f"pick lines of order {order_id}", as_json)


@query_app.command("shipments")
def shipments_command(
    location: Annotated[str | None, typer.Option(help="Only from this location.")] = None,
    order: Annotated[str | None, typer.Option(help="Only this order's.")] = None,
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """Shipments, oldest first, with their delivery."""
    with _read_models(db) as database:
        found = queries.shipments(
            database, location=location, order_id=order, limit=limit, offset=offset
        )
    _emit(found, "shipments", as_json)


@query_app.command("customers")
def customers_command(
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """Every customer's totals, by customer id, a page at a time."""
    with _read_models(db) as database:
        found = queries.customers(database, limit=limit, offset=offset)
    _emit(found, "customers", as_json)


@query_app.command("customer-orders")
def customer_orders_command(
    customer_id: Annotated[str, typer.Argument(help="The customer id.")],
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """A customer's order history, oldest first."""
    with _read_models(db) as database:
        if queries.customer(database, customer_id) is None:
            _fail(f"no customer {customer_id!r} in the read models (see `query customers`)")
        found = queries.customer_orders(database, customer_id, limit=limit, offset=offset)
    _emit(found, f"orders of customer {customer_id}", as_json)


@query_app.command("planning")
def planning_command(
    sku: Annotated[str | None, typer.Argument(help="One SKU. None: every SKU.")] = None,
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """Sales velocity over 7 and 30 days, days of cover and reorder units per SKU."""
    with _read_models(db) as database:
        found = queries.planning(database, sku, limit=limit, offset=offset)
    if sku is not None and not found:
        _fail(f"no stock of SKU {sku!r} in the planning read model (see `query planning`)")
    _emit(found, "planning" if sku is None else f"planning of {sku}", as_json)


@query_app.command("reorder")
def reorder_command(
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """The SKUs to reorder now and how many units (velocity x lead time + safety stock)."""
    with _read_models(db) as database:
        found = queries.reorder_suggestions(database, limit=limit, offset=offset)
    _emit(found, "reorder suggestions", as_json)


@query_app.command("kpis")
def kpis_command(
    by: Annotated[
        list[str] | None,
        typer.Option(help="Group by channel or campaign (repeat for both; default both)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="From this day on: a date (YYYY-MM-DD) or a logical day (day:N, day:0 the "
            "clock's first). The logical clock has no calendar: a date counts from day zero, "
            "the UTC date of the first event the read model folded."
        ),
    ] = None,
    total: Annotated[bool, typer.Option(help="Sum over the days rather than per day.")] = False,
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """Marketing KPIs: orders, revenue, average order value, conversion, cancellation and
    return rates per logical day of placement, by channel and campaign."""
    groups = queries.MARKETING_GROUPS if by is None else tuple(by)
    unknown = sorted(set(groups) - set(queries.MARKETING_GROUPS))
    if unknown:
        choices = ", ".join(queries.MARKETING_GROUPS)
        raise typer.BadParameter(f"{unknown} is not one of {choices}", param_hint="--by")
    with _read_models(db) as database:
        day_zero = queries.marketing_day_zero(database)
        since_day = None if since is None else _since_day(since, day_zero)
        found = queries.marketing(
            database, by=groups, per_day=not total, since_day=since_day, limit=limit, offset=offset
        )
    title = f"KPIs by {', '.join(groups) or 'day'}"
    if day_zero is not None:
        title += f" (logical day 0 is {day_zero.isoformat()})"
    _emit(found, title, as_json)


def _since_day(since: str, day_zero: date | None) -> int:
    """The logical day `--since` names, through the day zero the marketing read model recorded."""
    try:
        day = logical_day(since, day_zero)
    except NoDayZeroError as error:
        _fail(f"--since: {error} (stockledger project rebuild marketing)")
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--since") from None
    if day > LOGICAL_DAY_MAX:
        message = f"{since!r} is past the logical clock's last day, {DAY_PREFIX}{LOGICAL_DAY_MAX}"
        raise typer.BadParameter(message, param_hint="--since")
    return day


def _check_period(per: str) -> None:
    if per not in queries.THROUGHPUT_PERIODS:
        choices = ", ".join(queries.THROUGHPUT_PERIODS)
        raise typer.BadParameter(f"{per!r} is not one of {choices}", param_hint="--per")


@query_app.command("throughput")
def throughput_command(
    per: PerOption = "hour",
    since: SinceHourOption = None,
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """Events the platform carried per topic and hour (or day), oldest first."""
    _check_period(per)
    with _read_models(db) as database:
        found = queries.throughput(database, per=per, since=since, limit=limit, offset=offset)
    _emit(found, f"throughput per {per}", as_json)


@query_app.command("platform")
def platform_command(
    per: PerOption = "hour",
    since: SinceHourOption = None,
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """Commands answered and events written per hour (or day), and the dead letters
    each consumer left for a person (stockledger dlq list)."""
    _check_period(per)
    with _read_models(db) as database:
        found = queries.platform(database, per=per, since=since, limit=limit, offset=offset)
    if as_json:
        _emit(found, "platform", as_json=True)
        return
    _emit(found.periods, f"commands and events per {per}", as_json=False)
    _emit(found.dead_letters, "dead letters", as_json=False)


@query_app.command("rejections")
def rejections_command(
    since: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="From this UTC day on.")
    ] = None,
    event: Annotated[
        str | None, typer.Option(help="Only this rejection event type (e.g. StockRejected).")
    ] = None,
    limit: LimitOption = queries.LIMIT_DEFAULT,
    offset: OffsetOption = 0,
    db: DbOption = DEFAULT_DB_URL,
    as_json: JsonOption = False,
) -> None:
    """Rejections per UTC day by event type, command and reason, oldest first."""
    day = None if since is None else since.date().isoformat()
    with _read_models(db) as database:
        found = queries.rejections(database, since_day=day, event=event, limit=limit, offset=offset)
    _emit(found, "rejections", as_json)
