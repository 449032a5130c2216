"""The read API against a real server over a demo store whose read models are caught up.

Every endpoint answers exactly what its query function returns (and those
equal the engine's state: tests/projections/); filters, paging, 404 for an
unknown id, 422 for a parameter out of range; and a derandomized fuzz run of
every GET of the OpenAPI document gets no 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import httpx
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from engine.demo import run_demo
from engine.http.reads import OFFSET_MAX, PAGE_DEFAULT
from engine.store import open_factory
from projections import queries, select
from projections.db import Database, connect
from projections.runner import catch_up
from tests.engine.http.server import running_server
from tests.projections.conftest import DEMO

EXAMPLES_PER_OPERATION: Final = 100
READ_PATHS: Final = {
    "GET /stock",
    "GET /stock/{sku}",
    "GET /stock/{sku}/{location}/movements",
    "GET /orders",
    "GET /orders/{order_id}",
    "GET /revenue",
    "GET /customers/{customer_id}",
    "GET /review-queue",
    "GET /backlog",
    "GET /backlog/{location}",
    "GET /call-list",
}
T = TypeVar("T")


@dataclass(frozen=True)
class Demo:
    client: httpx.Client
    db: Database
    head: int


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("reads")
    store_url = f"sqlite:///{folder / 'store.db'}"
    db_url = f"sqlite:///{folder / 'readmodels.db'}"
    factory = open_factory(store_url)
    recorder = factory.application_recorder()
    assert run_demo(recorder, DEMO).report.violation is None
    with connect(db_url) as db:
        assert catch_up(db, recorder, select()) > 0
        head = recorder.max_notification_id() or 0
        with (
            running_server(store_url, folder / "serve.log", db_url=db_url) as server,
            httpx.Client(base_url=server.url, timeout=30.0) as client,
        ):
            yield Demo(client, db, head)
    factory.close()


def get(demo: Demo, path: str, kind: type[T], **params: Any) -> T:
    answer = demo.client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return msgspec.json.decode(answer.content, type=kind)


def test_stock_of_a_sku_and_of_a_slot(demo: Demo) -> None:
    slots = queries.stock(demo.db)
    for sku in sorted({slot.sku for slot in slots}):
        found = get(demo, f"/stock/{sku}", list[queries.StockLevel])
        assert found == queries.stock(demo.db, sku)
    slot = slots[-1]
    at = get(demo, f"/stock/{slot.sku}", list[queries.StockLevel], location=slot.location)
    assert at == [slot]


def test_stock_of_every_slot_filtered_and_paged(demo: Demo) -> None:
    slots = queries.stock(demo.db)
    assert get(demo, "/stock", list[queries.StockLevel]) == slots[:PAGE_DEFAULT]
    page = get(demo, "/stock", list[queries.StockLevel], limit=7, offset=5)
    assert page == slots[5:12]
    location = slots[0].location
    there = get(demo, "/stock", list[queries.StockLevel], location=location, limit=1000)
    assert there == [slot for slot in slots if slot.location == location]
    assert get(demo, "/stock", list[queries.StockLevel], offset=len(slots)) == []


def test_movements_of_a_slot(demo: Demo) -> None:
    slot = queries.stock(demo.db)[0]
    path = f"/stock/{slot.sku}/{slot.location}/movements"
    moved = get(demo, path, list[queries.Movement], limit=1000)
    assert moved == queries.movements(demo.db, slot.sku, slot.location)
    assert moved[-1].on_hand == slot.on_hand
    assert get(demo, path, list[queries.Movement], limit=2, offset=1) == moved[1:3]


def test_orders_filtered_and_paged_and_one_by_id(demo: Demo) -> None:
    every = queries.orders(demo.db)
    assert get(demo, "/orders", list[queries.OrderRow], limit=1000) == every
    assert get(demo, "/orders", list[queries.OrderRow], limit=3, offset=10) == every[10:13]
    for status in sorted({o.status for o in every}):
        found = get(demo, "/orders", list[queries.OrderRow], status=status, limit=1000)
        assert found == [o for o in every if o.status == status]
    first = every[0]
    mine = get(demo, "/orders", list[queries.OrderRow], customer=first.customer_id, limit=1000)
    assert mine == [o for o in every if o.customer_id == first.customer_id]
    assert get(demo, f"/orders/{first.order_id}", queries.OrderRow) == first


def test_revenue_since_a_day(demo: Demo) -> None:
    days = queries.daily_revenue(demo.db)
    assert get(demo, "/revenue", list[queries.DailyRevenue]) == days
    assert get(demo, "/revenue", list[queries.DailyRevenue], since=days[-1].day) == days[-1:]
    assert get(demo, "/revenue", list[queries.DailyRevenue], since="2999-01-01") == []


def test_customer_review_queue_backlog_call_list(demo: Demo) -> None:
    who = queries.orders(demo.db)[0].customer_id
    assert get(demo, f"/customers/{who}", queries.CustomerSummary) == queries.customer(demo.db, who)
    reviews = get(demo, "/review-queue", list[queries.ReviewItem], limit=1000)
    assert reviews == queries.review_queue(demo.db)
    backlog = get(demo, "/backlog", list[queries.Backlog])
    assert backlog == queries.backlog(demo.db)
    for row in backlog:
        picks = get(demo, f"/backlog/{row.location}", list[queries.PickLine], limit=1000)
        assert picks == queries.pick_list(demo.db, row.location)
    calls = get(demo, "/call-list", list[queries.Call], limit=1000)
    assert calls == queries.call_list(demo.db)


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/stock/no-such-sku", "no stock of SKU 'no-such-sku'"),
        ("/stock/no-such-sku/nowhere/movements", "no stock of SKU 'no-such-sku' at 'nowhere'"),
        ("/orders/no-such-order", "no order 'no-such-order'"),
        ("/customers/nobody", "no customer 'nobody'"),
    ],
)
def test_an_unknown_id_is_404(demo: Demo, path: str, says: str) -> None:
    answer = demo.client.get(path)
    assert answer.status_code == 404
    assert answer.json()["detail"] == says


@pytest.mark.parametrize(
    ("path", "params", "key"),
    [
        ("/orders", {"limit": 0}, "limit"),
        ("/orders", {"limit": queries.LIMIT_MAX + 1}, "limit"),
        ("/stock", {"offset": -1}, "offset"),
        ("/stock", {"offset": OFFSET_MAX + 1}, "offset"),
        ("/stock", {"limit": "ten"}, "limit"),
        ("/orders", {"status": "lost"}, "status"),
        ("/revenue", {"since": "2024-13-01"}, "since"),
    ],
)
def test_a_bad_parameter_is_422_naming_it(
    demo: Demo, path: str, params: dict[str, Any], key: str
) -> None:
    answer = demo.client.get(path, params=params)
    assert answer.status_code == 422, answer.text
    assert [problem["key"] for problem in answer.json()["extra"]] == [key]


def test_health_reports_each_read_models_lag(demo: Demo) -> None:
    health = demo.client.get("/health").json()
    assert health["ok"]
    assert health["projection_lag"] == 0
    assert {p["projection"] for p in health["projections"]} == {p.name for p in select()}
    assert {(p["checkpoint"], p["head"]) for p in health["projections"]} == {(demo.head, demo.head)}


def test_no_read_gets_a_server_error(demo: Demo) -> None:
    url = str(demo.client.base_url)
    api = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [op for op in (r.ok() for r in api.get_all_operations()) if op.method == "get"]
    assert {op.label for op in operations} >= READ_PATHS
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,  # the same examples on every run: CI is reproducible
        )
        def no_server_error(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=url, checks=[not_a_server_error])

        no_server_error()
