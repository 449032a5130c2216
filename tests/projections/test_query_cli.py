"""`stockledger query` through the real CLI over a demo's read models.

--json output decodes back into the query functions' own Structs and equals
what they return (which tests/projections/ holds to the engine's state).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import msgspec
import pytest
from eventsourcing.persistence import ApplicationRecorder
from typer.testing import CliRunner

from engine.cli import app
from projections import queries, select
from projections.db import Database, connect
from projections.runner import catch_up

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
