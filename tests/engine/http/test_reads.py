"""The read API against a real server over a demo store whose read models are caught up.

Every endpoint answers exactly what its query function returns (and those
equal the engine's state: tests/projections/); filters, paging, 404 for an
unknown id, 422 for a parameter out of range; and a derandomized fuzz run of
every GET of the OpenAPI document gets no 5xx.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from engine.demo import run_demo
from engine.http.dashboard import LOW_STOCK_BELOW_MAX
from engine.http.reads import LOGICAL_DAY_MAX, OFFSET_MAX, PAGE_DEFAULT, ReadModels
from engine.store import open_factory
from projections import queries, select
from projections.db import Database, connect
from projections.runner import catch_up
from tests.engine.http.commands import place, stock_and_credit
from tests.engine.http.server import TOKEN, running_server
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
    "GET /orders/{order_id}/picks",
    "GET /shipments",
    "GET /customers",
    "GET /customers/{customer_id}/orders",
    "GET /exposures",
    "GET /exposures/{customer_id}",
    "GET /credit-decisions",
    "GET /planning",
    "GET /planning/{sku}",
    "GET /reorder-suggestions",
    "GET /kpis",
    "GET /kpis/day-zero",
    "GET /throughput",
    "GET /platform",
    "GET /rejections",
}
EVERY: Final = {"limit": queries.LIMIT_MAX}
# Lookups in flight at once: more than the reads' threads and wrk's connections in the bench.
CONCURRENT_LOOKUPS: Final = 200
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


def test_low_stock_below_a_threshold(demo: Demo) -> None:
    slots = queries.stock(demo.db, limit=queries.LIMIT_MAX)
    below = sorted(slot.available for slot in slots)[len(slots) // 2]
    low = get(demo, "/stock", list[queries.StockLevel], below=below, **EVERY)
    assert low == [slot for slot in slots if slot.available < below]
    assert low == queries.low_stock(demo.db, below)
    assert 0 < len(low) < len(slots)
    location = low[0].location
    there = get(demo, "/stock", list[queries.StockLevel], below=below, location=location)
    assert there == [slot for slot in low if slot.location == location]
    assert get(demo, "/stock", list[queries.StockLevel], below=below, limit=2, offset=1) == low[1:3]


def test_credit_exposures_and_decisions(demo: Demo) -> None:
    every = queries.exposures(demo.db)
    assert get(demo, "/exposures", list[queries.Exposure], **EVERY) == every
    assert get(demo, "/exposures", list[queries.Exposure], limit=2, offset=3) == every[3:5]
    who = every[0].customer_id
    assert get(demo, f"/exposures/{who}", queries.Exposure) == every[0]
    decisions = get(demo, "/credit-decisions", list[queries.CreditDecision], **EVERY)
    assert decisions == queries.credit_decisions(demo.db, limit=queries.LIMIT_MAX)
    assert decisions
    who = decisions[0].customer_id
    mine = get(demo, "/credit-decisions", list[queries.CreditDecision], customer=who)
    assert mine == [d for d in decisions if d.customer_id == who]


def test_picks_and_shipments(demo: Demo) -> None:
    shipped = queries.shipments(demo.db, limit=queries.LIMIT_MAX)
    assert shipped
    assert get(demo, "/shipments", list[queries.Shipment], **EVERY) == shipped
    first = shipped[0]
    there = get(demo, "/shipments", list[queries.Shipment], location=first.location, **EVERY)
    assert there == [s for s in shipped if s.location == first.location]
    mine = get(demo, "/shipments", list[queries.Shipment], order=first.order_id)
    assert mine == [s for s in shipped if s.order_id == first.order_id]
    picks = get(demo, f"/orders/{first.order_id}/picks", list[queries.PickLine])
    assert picks == queries.pick_lines(demo.db, first.order_id)
    assert picks


def test_customers_and_their_orders(demo: Demo) -> None:
    every = queries.customers(demo.db)
    assert get(demo, "/customers", list[queries.CustomerSummary], **EVERY) == every
    assert get(demo, "/customers", list[queries.CustomerSummary], limit=2, offset=1) == every[1:3]
    who = every[0].customer_id
    mine = get(demo, f"/customers/{who}/orders", list[queries.CustomerOrder], **EVERY)
    assert mine == queries.customer_orders(demo.db, who)
    assert len(mine) == every[0].orders


def test_planning_and_reorder_suggestions(demo: Demo) -> None:
    plans = queries.planning(demo.db, limit=queries.LIMIT_MAX)
    assert plans
    assert get(demo, "/planning", list[queries.SkuPlan], **EVERY) == plans
    assert get(demo, "/planning", list[queries.SkuPlan], limit=3, offset=2) == plans[2:5]
    assert get(demo, f"/planning/{plans[-1].sku}", queries.SkuPlan) == plans[-1]
    wanted = get(demo, "/reorder-suggestions", list[queries.SkuPlan], **EVERY)
    assert wanted == queries.reorder_suggestions(demo.db, limit=queries.LIMIT_MAX)


@pytest.mark.parametrize(
    ("params", "by", "per_day"),
    [
        ({}, ("channel", "campaign"), True),
        ({"by": "channel"}, ("channel",), True),
        ({"by": ["campaign", "channel"], "per_day": "false"}, ("campaign", "channel"), False),
    ],
)
def test_kpis_by_channel_and_campaign(
    demo: Demo, params: dict[str, Any], by: tuple[str, ...], per_day: bool
) -> None:
    rows = get(demo, "/kpis", list[queries.MarketingRow], **params, **EVERY)
    assert rows == queries.marketing(demo.db, by=by, per_day=per_day, limit=queries.LIMIT_MAX)
    assert rows
    last = rows[-1].day if per_day else None
    if last is not None:
        since = get(demo, "/kpis", list[queries.MarketingRow], **params, since=last, **EVERY)
        assert since == [row for row in rows if row.day is not None and row.day >= last]


def test_throughput_and_rejections(demo: Demo) -> None:
    for per in queries.THROUGHPUT_PERIODS:
        found = get(demo, "/throughput", list[queries.Throughput], per=per, **EVERY)
        assert found == queries.throughput(demo.db, per=per, limit=queries.LIMIT_MAX)
        assert found
    rejected = get(demo, "/rejections", list[queries.Rejection], **EVERY)
    assert rejected == queries.rejections(demo.db, limit=queries.LIMIT_MAX)
    assert rejected
    event, day = rejected[0].event, rejected[-1].day
    found = get(demo, "/rejections", list[queries.Rejection], since=day, event=event, **EVERY)
    assert found == [r for r in rejected if r.day >= day and r.event == event]


def test_kpis_since_a_date_count_from_day_zero(demo: Demo) -> None:
    day_zero = queries.marketing_day_zero(demo.db)
    assert day_zero is not None
    answer = get(demo, "/kpis/day-zero", dict[str, str])
    assert answer == {"day_zero": day_zero.isoformat()}
    # The demo places every order on logical day 0: on day zero's date, and not after.
    for days_after, expect_rows in ((-3, True), (0, True), (1, False)):
        when = (day_zero + timedelta(days=days_after)).isoformat()
        rows = get(demo, "/kpis", list[queries.MarketingRow], since_date=when, **EVERY)
        assert rows == queries.marketing(demo.db, since_day=days_after, limit=queries.LIMIT_MAX)
        assert bool(rows) == expect_rows, when


def test_platform_figures(demo: Demo) -> None:
    for per in queries.THROUGHPUT_PERIODS:
        found = get(demo, "/platform", queries.PlatformFigures, per=per, **EVERY)
        assert found == queries.platform(demo.db, per=per, limit=queries.LIMIT_MAX)
        assert found.periods
    hour = queries.platform(demo.db, per="hour").periods[-1].period
    found = get(demo, "/platform", queries.PlatformFigures, since=hour, **EVERY)
    assert [p.period for p in found.periods] == [hour]


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/stock/no-such-sku", "no stock of SKU 'no-such-sku'"),
        ("/stock/no-such-sku/nowhere/movements", "no stock of SKU 'no-such-sku' at 'nowhere'"),
        ("/orders/no-such-order", "no order 'no-such-order'"),
        ("/customers/nobody", "no customer 'nobody'"),
        ("/customers/nobody/orders", "no customer 'nobody'"),
        ("/orders/no-such-order/picks", "no order 'no-such-order'"),
        ("/exposures/nobody", "no credit account of customer 'nobody'"),
        ("/planning/no-such-sku", "no stock of SKU 'no-such-sku' to plan"),
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
        ("/stock", {"below": LOW_STOCK_BELOW_MAX + 1}, "below"),
        ("/kpis", {"by": "region"}, "by"),
        ("/kpis", {"since": -1}, "since"),
        ("/kpis", {"since": LOGICAL_DAY_MAX + 1}, "since"),
        ("/kpis", {"since_date": "2026-11-31"}, "since_date"),
        ("/kpis", {"since": 1, "since_date": "2026-11-20"}, "since_date"),
        ("/throughput", {"per": "week"}, "per"),
        ("/platform", {"per": "week"}, "per"),
        ("/rejections", {"since": "yesterday"}, "since"),
        ("/shipments", {"limit": 0}, "limit"),
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


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_lookup_runs_on_the_event_loop_on_sqlite_only(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'readmodels.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    read_models = ReadModels(url)

    def thread_name(_: Database) -> str:
        return threading.current_thread().name

    async def loop_and_lookup() -> tuple[str, str]:
        return threading.current_thread().name, await read_models.look_up(thread_name)

    try:
        loop, lookup = asyncio.run(loop_and_lookup())
    finally:
        read_models.close()
    assert (lookup == loop) == (backend == "sqlite")


def test_lookups_in_flight_together_each_get_their_own_and_see_the_last_projected(
    tmp_path: Path,
) -> None:
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    db_url = f"sqlite:///{tmp_path / 'readmodels.db'}"
    units = {f"sku-{n}": 10 + n for n in range(20)}
    setup = [c for sku, n in units.items() for c in stock_and_credit(sku, "cu-1", units=n)]
    factory = open_factory(store_url)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with (
        running_server(store_url, tmp_path / "serve.log", db_url=db_url) as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=30.0) as client,
        connect(db_url) as db,
    ):
        client.post("/commands", json=setup).raise_for_status()
        catch_up(db, factory.application_recorder(), select())
        skus = [sorted(units)[i % len(units)] for i in range(CONCURRENT_LOOKUPS)]
        answers = asyncio.run(_get_together(server.url, [f"/stock/{sku}" for sku in skus]))
        assert [[(s["sku"], s["on_hand"]) for s in a] for a in answers] == [
            [(sku, units[sku])] for sku in skus
        ]

        order = place("sku-3", "cu-1", quantity=2)
        client.post("/commands", json=[order]).raise_for_status()
        assert client.get(f"/orders/{order['order_id']}").status_code == 404
        catch_up(db, factory.application_recorder(), select())
        assert client.get(f"/orders/{order['order_id']}").json()["status"] == "confirmed"
        assert client.get("/stock/sku-3").json()[0]["reserved"] == 2
    factory.close()


async def _get_together(url: str, paths: list[str]) -> list[Any]:
    limits = httpx.Limits(max_connections=len(paths))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as client:
        answers = await asyncio.gather(*(client.get(path) for path in paths))
    assert {a.status_code for a in answers} == {200}
    return [a.json() for a in answers]
