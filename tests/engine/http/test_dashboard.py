"""The dashboard against a real server on a demo store, in Debian's chromium (headless).

The expected figures are read here straight from the query functions and the
runner's status, independently of `engine.http.dashboard`, and the page must
show exactly them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import msgspec
import pytest
from eventsourcing.persistence import ApplicationRecorder
from litestar.testing import TestClient
from playwright.sync_api import Browser, sync_playwright

from engine.demo import run_demo
from engine.http.app import create_app
from engine.http.dashboard import (
    LOW_STOCK_BELOW_DEFAULT,
    REVIEW_ITEMS_SHOWN_MAX,
    STOCK_ROWS_SHOWN_MAX,
    NotAvailable,
    ReviewQueue,
    gather_backlog,
    gather_funnel,
    gather_review_queue,
    gather_stock,
)
from engine.http.settings import HttpSettings
from engine.store import open_factory
from projections import queries, select
from projections.credit import Credit
from projections.db import Database, connect
from projections.logistics import Logistics
from projections.runner import catch_up, status
from tests.engine.http.commands import Json, fresh, place
from tests.engine.http.server import READ_DB_ENV, TOKEN, running_server
from tests.projections.conftest import DEMO

CHROMIUM: Final = Path("/usr/bin/chromium")
PAGE_TIMEOUT_MS: Final = 30_000
SHIPPED: Final = {"partially_shipped", "shipped", "delivered", "returned"}


@dataclass(frozen=True)
class Demo:
    url: str
    recorder: ApplicationRecorder
    db: Database


def slot(sku: str, safety_stock: int, on_hand: int) -> list[Json]:
    return [
        {
            "type": "ConfigureSlot",
            "command_id": fresh("cfg"),
            "sku": sku,
            "location": "w1",
            "safety_stock": safety_stock,
        },
        {
            "type": "ReceiveStock",
            "command_id": fresh("rcv"),
            "sku": sku,
            "location": "w1",
            "quantity": on_hand,
            "reference": "po-1",
        },
    ]


def credit(customer: str, limit_cents: int) -> Json:
    return {
        "type": "SetCreditLimit",
        "command_id": fresh("lim"),
        "customer_id": customer,
        "limit_cents": limit_cents,
        "payment_terms": "net-30",
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A demo run on an SQLite store and, through the server, what the demo leaves none
    of: a slot low, one under safety stock, an order to ship, an order held for review;
    the read models caught up."""
    folder = tmp_path_factory.mktemp("dashboard")
    store_url = f"sqlite:///{folder / 'store.db'}"
    db_url = f"sqlite:///{folder / 'readmodels.db'}"
    factory = open_factory(store_url)
    recorder = factory.application_recorder()
    assert run_demo(recorder, DEMO).report.violation is None
    with (
        connect(db_url) as db,
        running_server(store_url, folder / "serve.log", db_url=db_url) as server,
    ):
        held = place("DASH-LOW", "cu-dash-held")
        held["lines"][0]["unit_price_cents"] = 1_050  # over the limit, inside the band
        commands = [
            *slot("DASH-LOW", 0, LOW_STOCK_BELOW_DEFAULT + 1),
            *slot("DASH-SAFE", 8, 5),
            credit("cu-dash-ok", 1_000_000),
            credit("cu-dash-held", 1_000),
            place("DASH-LOW", "cu-dash-ok"),  # confirmed, not shipped: backlog
            held,  # held for credit review
        ]
        answers = httpx.post(
            f"{server.url}/commands",
            json=commands,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30.0,
        ).json()
        assert all("events" in answer for answer in answers), answers
        # The review queue's and the backlog's projections, registered or not yet.
        built = {p.name: p for p in (*select(), Credit(), Logistics())}
        assert catch_up(db, recorder, list(built.values())) > 0
        yield Demo(server.url, recorder, db)
    factory.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


def _level(slot: queries.StockLevel, low_below: int) -> str:
    if slot.on_hand - slot.reserved < slot.safety_stock:
        return "below_safety"
    return "low" if slot.available < low_below else "ok"


def expected_stock(db: Database, low_below: int) -> list[dict[str, Any]]:
    """Every slot, lowest level first, key order within a level."""
    order = {"below_safety": 0, "low": 1, "ok": 2}
    rows = [
        {
            "sku": s.sku,
            "location": s.location,
            "on_hand": s.on_hand,
            "reserved": s.reserved,
            "safety_stock": s.safety_stock,
            "available": s.available,
            "level": _level(s, low_below),
        }
        for s in queries.stock(db, limit=queries.LIMIT_MAX)
    ]
    return sorted(rows, key=lambda row: order[row["level"]])


def expected_funnel(db: Database) -> dict[str, Any]:
    days = queries.daily_revenue(db, limit=queries.LIMIT_MAX)
    ledger = queries.orders(db, limit=queries.LIMIT_MAX)
    by_status: dict[str, int] = {}
    for row in ledger:
        by_status[row.status] = by_status.get(row.status, 0) + 1
    return {
        "placed": sum(d.orders_placed for d in days),
        "confirmed": sum(d.orders_confirmed for d in days),
        "shipped": sum(1 for row in ledger if row.status in SHIPPED),
        "by_status": by_status,
    }


def expected_review_queue(db: Database) -> dict[str, Any]:
    items = queries.review_queue(db, limit=queries.LIMIT_MAX)
    oldest = [msgspec.to_builtins(item) for item in items[:REVIEW_ITEMS_SHOWN_MAX]]
    return {"state": "available", "length": len(items), "oldest": oldest, "complete": True}


def expected_backlog(db: Database) -> dict[str, Any]:
    locations = queries.backlog(db)
    return {
        "state": "available",
        "lines": sum(b.lines for b in locations),
        "units": sum(b.units for b in locations),
        "locations": [msgspec.to_builtins(b) for b in locations],
    }


def expected_lag(demo: Demo) -> list[dict[str, Any]]:
    return [
        {"projection": s.projection, "checkpoint": s.checkpoint, "head": s.head, "lag": s.lag}
        for s in status(demo.db, demo.recorder, select())
    ]


def test_the_data_endpoint_gives_the_read_models_figures(demo: Demo) -> None:
    data = httpx.get(f"{demo.url}/dashboard/data", timeout=30.0).json()

    stock = expected_stock(demo.db, LOW_STOCK_BELOW_DEFAULT)
    assert 0 < len(stock) <= STOCK_ROWS_SHOWN_MAX
    assert data["stock"]["rows"] == stock
    assert data["stock"]["slots"] == len(stock)
    assert data["stock"]["low"] == sum(row["level"] == "low" for row in stock)
    assert data["stock"]["below_safety"] == sum(row["level"] == "below_safety" for row in stock)
    assert data["stock"]["complete"] is True
    levels = {(row["sku"], row["level"]) for row in stock}
    assert {("DASH-LOW", "low"), ("DASH-SAFE", "below_safety")} <= levels

    funnel = expected_funnel(demo.db)
    assert {k: data["funnel"][k] for k in funnel} == funnel
    assert funnel["placed"] == DEMO.orders + 2  # the fixture's two
    assert funnel["placed"] >= funnel["confirmed"] >= funnel["shipped"] > 0
    assert data["funnel"]["complete"] is True

    assert data["review_queue"] == expected_review_queue(demo.db)
    assert data["backlog"] == expected_backlog(demo.db)
    assert data["backlog"]["lines"] > 0
    assert data["review_queue"]["length"] > 0
    lag = [{k: s[k] for k in ("projection", "checkpoint", "head", "lag")} for s in data["lag"]]
    assert lag == expected_lag(demo)
    assert {s["lag"] for s in lag} == {0}


def test_the_low_stock_threshold_is_a_parameter_with_bounds(demo: Demo) -> None:
    data = httpx.get(f"{demo.url}/dashboard/data", params={"low_below": 0}, timeout=30.0).json()
    assert data["stock"]["rows"] == expected_stock(demo.db, 0)
    assert data["stock"]["low"] == 0

    refused = httpx.get(f"{demo.url}/dashboard/data", params={"low_below": -1}, timeout=30.0)
    assert refused.status_code == 400
    assert "low_below" in refused.text


def test_a_read_model_past_the_scan_limit_says_its_figures_are_partial(demo: Demo) -> None:
    placed = len(queries.orders(demo.db))
    funnel = gather_funnel(demo.db, rows_max=placed - 1)
    assert not funnel.complete
    assert sum(funnel.by_status.values()) == placed - 1
    assert gather_funnel(demo.db, rows_max=placed).complete

    slots = len(queries.stock(demo.db))
    assert not gather_stock(demo.db, LOW_STOCK_BELOW_DEFAULT, rows_max=slots - 1).complete
    assert gather_stock(demo.db, LOW_STOCK_BELOW_DEFAULT, rows_max=slots).complete

    waiting = len(queries.review_queue(demo.db))
    queue = gather_review_queue(demo.db, rows_max=waiting - 1)
    assert isinstance(queue, ReviewQueue)
    assert (queue.length, queue.complete) == (waiting - 1, False)


def test_a_read_model_not_built_is_not_available(tmp_path: Path) -> None:
    with connect(f"sqlite:///{tmp_path / 'readmodels.db'}") as db:
        queue, backlog = gather_review_queue(db), gather_backlog(db)
    assert isinstance(queue, NotAvailable)
    assert isinstance(backlog, NotAvailable)
    assert "credit" in queue.reason
    assert "logistics" in backlog.reason


# One call in the page, so a refresh cannot land between two reads.
_READ_PAGE: Final = """() => {
  const text = (id) => document.getElementById(id).textContent;
  const number = (s) => Number(s.replaceAll(",", ""));
  const cells = (tr) => [...tr.cells].map((td) => td.textContent);
  return {
    funnel: ["placed", "confirmed", "shipped"].map((s) => number(text(`funnel-${s}`))),
    review_queue: number(text("review-queue-value")),
    review_items: [...document.querySelectorAll("#review-queue tbody tr")].map(cells),
    backlog: text("backlog-value"),
    backlog_rows: [...document.querySelectorAll("#backlog tbody tr")].map((tr) => {
      const [location, ...figures] = cells(tr);
      return [location, ...figures.map(number)];
    }),
    stock: [...document.querySelectorAll("#stock tbody tr")].map((tr) => {
      const [sku, location, ...figures] = cells(tr);
      return [sku, location, ...figures.map(number), tr.className,
              getComputedStyle(tr).backgroundColor];
    }),
    lag: [...document.querySelectorAll("#lag tbody tr")].map((tr) => {
      const [name, ...figures] = cells(tr);
      return [name, ...figures.map(number)];
    }),
  };
}"""


def test_the_page_shows_the_read_models_figures(
    demo: Demo, browser: Browser, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(demo.url + "/", timeout=PAGE_TIMEOUT_MS)
    page.wait_for_selector("body[data-generated-at]", timeout=PAGE_TIMEOUT_MS)
    shown = page.evaluate(_READ_PAGE)

    funnel = expected_funnel(demo.db)
    assert shown["funnel"] == [funnel["placed"], funnel["confirmed"], funnel["shipped"]]
    queue = expected_review_queue(demo.db)
    assert shown["review_queue"] == queue["length"]
    assert [[row[0], row[1], row[2]] for row in shown["review_items"]] == [
        [i["order_id"], i["customer_id"], f"{i['amount_cents'] / 100:,.2f}"]
        for i in queue["oldest"]
    ]
    backlog = expected_backlog(demo.db)
    assert shown["backlog"] == f"{backlog['lines']:,} lines, {backlog['units']:,} units"
    assert shown["backlog_rows"] == [
        [b["location"], b["orders"], b["lines"], b["units"]] for b in backlog["locations"]
    ]
    assert shown["lag"] == [
        [s["projection"], s["checkpoint"], s["head"], s["lag"]] for s in expected_lag(demo)
    ]

    stock = expected_stock(demo.db, LOW_STOCK_BELOW_DEFAULT)
    fields = ("sku", "location", "on_hand", "reserved", "safety_stock", "available", "level")
    assert [row[:7] for row in shown["stock"]] == [[s[f] for f in fields] for s in stock]
    # Highlighted: a low slot's row is coloured, and unlike an ok one.
    colours = {row[6]: row[7] for row in shown["stock"]}
    assert len({colours["ok"], colours["low"], colours["below_safety"]}) == 3
    assert "rgba(0, 0, 0, 0)" not in (colours["low"], colours["below_safety"])

    screenshot = tmp_path / "dashboard.png"
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert screenshot.stat().st_size > 10_000
    assert errors == []
    page.close()


def test_the_figures_come_from_the_apps_read_models_not_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(READ_DB_ENV, "mysql://not/these")
    db_url = f"sqlite:///{tmp_path / 'readmodels.db'}"
    app = create_app(HttpSettings(f"sqlite:///{tmp_path / 'store.db'}", (TOKEN,), db_url))
    with TestClient(app) as client:
        answer = client.get("/dashboard/data")
    assert answer.status_code == 200, answer.text
    # Under the old wiring, the environment's URL: a 503 naming it.
    assert [p["projection"] for p in answer.json()["lag"]] == [p.name for p in select()]
