"""`stockledger query` through the real CLI over a demo's read models.

--json output decodes back into the query functions' own Structs and equals
what they return (which tests/projections/ holds to the engine's state).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import msgspec
import pytest
from eventsourcing.persistence import ApplicationRecorder
from typer.testing import CliRunner

from engine.cli import app
from engine.http.dashboard import LOW_STOCK_BELOW_DEFAULT
from projections import queries, select
from projections.db import Database, connect
from projections.runner import catch_up, ensure_schema

runner = CliRunner()
T = TypeVar("T")


@pytest.fixture(scope="module")
def read_db(
    demo_store: ApplicationRecorder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Database]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('query') / 'readmodels.db'}"
    with connect(url) as db:
        assert catch_up(db, demo_store, select()) > 0
        yield url, db


def query(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["query", *args, "--db", url])
    return result.exit_code, result.output


def decoded(output: str, kind: type[T]) -> T:
    return msgspec.json.decode(output, type=kind)


def test_stock_json_round_trips(read_db: tuple[str, Database]) -> None:
    url, db = read_db
    slots = queries.stock(db)
    sku, location = slots[0].sku, slots[0].location
    code, output = query(url, "stock", sku, "--json")
    assert code == 0, output
    assert decoded(output, list[queries.StockLevel]) == queries.stock(db, sku)
    code, output = query(url, "stock", sku, "--location", location, "--json")
    assert decoded(output, list[queries.StockLevel]) == [slots[0]]
    code, output = query(url, "stock-all", "--limit", "5", "--offset", "2", "--json")
    assert decoded(output, list[queries.StockLevel]) == slots[2:7]


def test_movements_json_round_trips(read_db: tuple[str, Database]) -> None:
    url, db = read_db
    slot = queries.stock(db)[0]
    code, output = query(url, "movements", slot.sku, slot.location, "--json")
    assert code == 0, output
    moved = decoded(output, list[queries.Movement])
    assert moved == queries.movements(db, slot.sku, slot.location)
    assert moved[-1].on_hand == slot.on_hand


def test_orders_and_order_json_round_trip(read_db: tuple[str, Database]) -> None:
    url, db = read_db
    every = queries.orders(db)
    first = every[0]
    code, output = query(url, "order", first.order_id, "--json")
    assert code == 0, output
    assert decoded(output, queries.OrderRow) == first
    code, output = query(url, "orders", "--limit", "3", "--offset", "1", "--json")
    assert decoded(output, list[queries.OrderRow]) == every[1:4]
    status, customer = first.status, first.customer_id
    code, output = query(url, "orders", "--status", status, "--customer", customer, "--json")
    expected = [o for o in every if o.status == status and o.customer_id == customer]
    assert decoded(output, list[queries.OrderRow]) == expected


def test_revenue_json_round_trips(read_db: tuple[str, Database]) -> None:
    url, db = read_db
    days = queries.daily_revenue(db)
    code, output = query(url, "revenue", "--json")
    assert code == 0, output
    assert decoded(output, list[queries.DailyRevenue]) == days
    code, output = query(url, "revenue", "--since", days[-1].day, "--json")
    assert decoded(output, list[queries.DailyRevenue]) == days[-1:]


def test_tables_for_people(read_db: tuple[str, Database]) -> None:
    url, db = read_db
    first = queries.orders(db)[0]
    code, output = query(url, "order", first.order_id)
    assert code == 0, output
    assert first.order_id in output
    assert f"{first.total_cents / 100:,.2f}" in output
    code, output = query(url, "orders", "--customer", "nobody")
    assert (code, output.strip()) == (0, "orders: none")


def test_unknown_sku_and_order_exit_1_with_a_message(read_db: tuple[str, Database]) -> None:
    url, _ = read_db
    assert query(url, "stock", "no-such-sku") == (
        1,
        "stockledger query: no stock of SKU 'no-such-sku' in the read models "
        "(see `query stock-all`)\n",
    )
    code, output = query(url, "order", "no-such-order")
    assert code == 1
    assert "no order 'no-such-order'" in output
    code, output = query(url, "movements", "no-such-sku", "nowhere")
    assert code == 1
    assert "no stock of SKU 'no-such-sku' at 'nowhere'" in output


def test_read_models_not_built(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    code, output = query(url, "orders")
    assert code == 1
    assert "no such table" in output
    assert f"stockledger project run --db {url}" in output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["orders", "--status", "lost"], "'lost' is not one of"),
        (["revenue", "--since", "2024-13-01"], "formats '%Y-%m-%d'"),
        (["orders", "--limit", "0"], "--limit"),
        (["orders", "--limit", str(queries.LIMIT_MAX + 1)], "--limit"),
    ],
)
def test_bad_options_are_named(args: list[str], says: str, tmp_path: Path) -> None:
    code, output = query(f"sqlite:///{tmp_path}/r.db", *args)
    assert code == 2
    assert says in " ".join(output.split())


def test_a_bad_db_url_is_named() -> None:
    result = runner.invoke(app, ["query", "orders", "--db", "mysql://x/y"])
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "--db" in said
    assert "unknown read-model database 'mysql://x/y'" in said


def test_customer_review_queue_backlog_call_list_round_trip(read_db: tuple[str, Database]) -> None:
    url, db = read_db
    who = queries.orders(db)[0].customer_id
    code, output = query(url, "customer", who, "--json")
    assert code == 0, output
    assert decoded(output, queries.CustomerSummary) == queries.customer(db, who)
    assert query(url, "customer", "nobody")[0] == 1
    code, output = query(url, "review-queue", "--json")
    assert decoded(output, list[queries.ReviewItem]) == queries.review_queue(db)
    code, output = query(url, "backlog", "--json")
    backlog = queries.backlog(db)
    assert decoded(output, list[queries.Backlog]) == backlog
    for location in {row.location for row in backlog}:
        code, output = query(url, "backlog", location, "--json")
        assert decoded(output, list[queries.PickLine]) == queries.pick_list(db, location)
    code, output = query(url, "call-list", "--json")
    assert decoded(output, list[queries.Call]) == queries.call_list(db)
    code, output = query(url, "backlog")
    assert code == 0, output


def test_low_stock_json_round_trips(read_db: tuple[str, Database]) -> None:
    url, db = read_db
    slots = queries.stock(db, limit=queries.LIMIT_MAX)
    below = sorted(slot.available for slot in slots)[len(slots) // 2]
    code, output = query(url, "low-stock", "--below", str(below), "--json")
    assert code == 0, output
    low = decoded(output, list[queries.StockLevel])
    assert low == [slot for slot in slots if slot.available < below]
    assert low == queries.low_stock(db, below)
    assert 0 < len(low) < len(slots)
    code, output = query(url, "low-stock", "--json")
    expected = queries.low_stock(db, LOW_STOCK_BELOW_DEFAULT)
    assert decoded(output, list[queries.StockLevel]) == expected
    location = slots[0].location
    code, output = query(url, "low-stock", "--below", "0", "--location", location, "--json")
    under = [s for s in slots if s.available < 0 and s.location == location]
    assert decoded(output, list[queries.StockLevel]) == under


def test_credit_json_round_trips(read_db: tuple[str, Database]) -> None:
    url, db = read_db
    every = queries.exposures(db)
    code, output = query(url, "exposures", "--limit", "3", "--offset", "1", "--json")
    assert code == 0, output
    assert decoded(output, list[queries.Exposure]) == every[1:4]
    who = every[0].customer_id
    code, output = query(url, "exposure", who, "--json")
    assert decoded(output, queries.Exposure) == every[0]
    assert query(url, "exposure", "nobody") == (
        1,
        "stockledger query: no credit account of customer 'nobody' in the read models\n",
    )
    code, output = query(url, "credit-decisions", "--json", "--limit", str(queries.LIMIT_MAX))
    decisions = decoded(output, list[queries.CreditDecision])
    assert decisions == queries.credit_decisions(db, limit=queries.LIMIT_MAX)
    assert decisions
    who = decisions[0].customer_id
    code, output = query(url, "credit-decisions", "--customer", who, "--json")
    assert decoded(output, list[queries.CreditDecision]) == [
        d for d in decisions if d.customer_id == who
    ]


def test_picks_and_shipments_json_round_trip(read_db: tuple[str, Database]) -> None:
    url, db = read_db
    shipped = queries.shipments(db)
    assert shipped
    code, output = query(url, "shipments", "--json")
    assert code == 0, output
    assert decoded(output, list[queries.Shipment]) == shipped
    first = shipped[0]
    code, output = query(url, "shipments", "--location", first.location, "--json")
    assert decoded(output, list[queries.Shipment]) == [
        s for s in shipped if s.location == first.location
    ]
    code, output = query(url, "shipments", "--order", first.order_id, "--json")
    assert decoded(output, list[queries.Shipment]) == [
        s for s in shipped if s.order_id == first.order_id
    ]
    code, output = query(url, "picks", first.order_id, "--json")
    picks = decoded(output, list[queries.PickLine])
    assert picks == queries.pick_lines(db, first.order_id)
    assert picks
    assert query(url, "picks", "no-such-order")[0] == 1


def test_customers_json_round_trip(read_db: tuple[str, Database]) -> None:
    url, db = read_db
    every = queries.customers(db)
    code, output = query(url, "customers", "--json")
    assert code == 0, output
    assert decoded(output, list[queries.CustomerSummary]) == every
    who = every[0].customer_id
    code, output = query(url, "customer-orders", who, "--json")
    mine = decoded(output, list[queries.CustomerOrder])
    assert mine == queries.customer_orders(db, who)
    assert len(mine) == every[0].orders
    code, output = query(url, "customer-orders", "nobody")
    assert code == 1
    assert "no customer 'nobody'" in output


def test_planning_and_reorder_json_round_trip(read_db: tuple[str, Database]) -> None:
    url, db = read_db
    plans = queries.planning(db)
    assert plans
    code, output = query(url, "planning", "--json")
    assert code == 0, output
    assert decoded(output, list[queries.SkuPlan]) == plans
    code, output = query(url, "planning", plans[0].sku, "--json")
    assert decoded(output, list[queries.SkuPlan]) == plans[:1]
    assert query(url, "planning", "no-such-sku")[0] == 1
    code, output = query(url, "reorder", "--json")
    assert decoded(output, list[queries.SkuPlan]) == queries.reorder_suggestions(db)
    code, output = query(url, "planning")
    assert (code, "planning" in output) == (0, True)


@pytest.mark.parametrize(
    ("args", "by", "per_day"),
    [
        ([], ("channel", "campaign"), True),
        (["--by", "channel"], ("channel",), True),
        (["--by", "campaign", "--total"], ("campaign",), False),
    ],
)
def test_kpis_json_round_trip(
    read_db: tuple[str, Database], args: list[str], by: tuple[str, ...], per_day: bool
) -> None:
    url, db = read_db
    code, output = query(url, "kpis", *args, "--json")
    assert code == 0, output
    rows = decoded(output, list[queries.MarketingRow])
    assert rows == queries.marketing(db, by=by, per_day=per_day)
    assert rows


def test_kpis_since_a_logical_day(read_db: tuple[str, Database]) -> None:
    url, db = read_db
    last = queries.marketing(db, by=(), limit=queries.LIMIT_MAX)[-1].day
    assert last is not None
    code, output = query(url, "kpis", "--by", "channel", "--since", f"day:{last}", "--json")
    assert code == 0, output
    rows = decoded(output, list[queries.MarketingRow])
    assert rows == queries.marketing(db, by=("channel",), since_day=last)
    assert {row.day for row in rows} == {last}


def test_kpis_since_a_date_count_from_day_zero(read_db: tuple[str, Database]) -> None:
    url, db = read_db
    day_zero = queries.marketing_day_zero(db)
    assert day_zero is not None
    # The test demo places every order on logical day 0: on day zero's date, and not after.
    for days_after, expect_rows in ((-3, True), (0, True), (1, False)):
        when = (day_zero + timedelta(days=days_after)).isoformat()

        code, output = query(url, "kpis", "--by", "channel", "--since", when, "--json")

        assert code == 0, output
        rows = decoded(output, list[queries.MarketingRow])
        assert rows == queries.marketing(db, by=("channel",), since_day=days_after)
        assert bool(rows) == expect_rows, when
    code, output = query(url, "kpis", "--by", "channel", "--since", day_zero.isoformat())
    assert f"logical day 0 is {day_zero.isoformat()}" in " ".join(output.split())


@pytest.mark.parametrize("since", ["yesterday", "2026-11-31", "day:x", "17"])
def test_kpis_since_a_bad_value_names_the_option_and_the_value(
    read_db: tuple[str, Database], since: str
) -> None:
    url, _ = read_db
    code, output = query(url, "kpis", "--by", "channel", "--since", since)
    said = " ".join(output.split())
    assert code == 2
    assert "--since" in said
    assert repr(since) in said
    assert "YYYY-MM-DD" in said or "day:N" in said


def test_kpis_since_a_date_without_day_zero_says_what_to_do(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    with connect(url) as db:
        ensure_schema(db, select())
    code, output = query(url, "kpis", "--since", "2026-11-20")
    said = " ".join(output.split())
    assert code == 1
    assert "--since" in said
    assert "2026-11-20" in said
    assert "stockledger project rebuild marketing" in said
    code, output = query(url, "kpis", "--since", "day:2", "--json")
    assert code == 0, output
    assert decoded(output, list[queries.MarketingRow]) == []


def test_throughput_and_rejections_json_round_trip(read_db: tuple[str, Database]) -> None:
    url, db = read_db
    for per in queries.THROUGHPUT_PERIODS:
        code, output = query(url, "throughput", "--per", per, "--json")
        assert code == 0, output
        found = decoded(output, list[queries.Throughput])
        assert found == queries.throughput(db, per=per)
        assert found
    rejected = queries.rejections(db)
    assert rejected
    code, output = query(url, "rejections", "--json")
    assert decoded(output, list[queries.Rejection]) == rejected
    event, day = rejected[0].event, rejected[-1].day
    code, output = query(url, "rejections", "--since", day, "--event", event, "--json")
    expected = [r for r in rejected if r.day >= day and r.event == event]
    assert decoded(output, list[queries.Rejection]) == expected


def test_platform_json_round_trips_and_the_table_shows_dead_letters(
    read_db: tuple[str, Database],
) -> None:
    url, db = read_db
    for per in queries.THROUGHPUT_PERIODS:
        code, output = query(url, "platform", "--per", per, "--json")
        assert code == 0, output
        found = decoded(output, queries.PlatformFigures)
        assert found == queries.platform(db, per=per)
        assert found.periods
        assert all(p.commands > 0 for p in found.periods)
    code, output = query(url, "platform")
    assert code == 0, output
    assert "commands and events per hour" in output
    assert "dead letters: none" in output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["platform", "--per", "week"], "--per"),
        (["kpis", "--by", "region"], "--by"),
        (["kpis", "--since", "-1"], "--since"),
        (["throughput", "--per", "week"], "--per"),
        (["rejections", "--since", "yesterday"], "--since"),
        (["low-stock", "--below", "ten"], "--below"),
    ],
)
def test_bad_options_of_the_new_queries_are_named(
    args: list[str], says: str, tmp_path: Path
) -> None:
    code, output = query(f"sqlite:///{tmp_path}/r.db", *args)
    assert code == 2
    assert says in " ".join(output.split())
