"""The HTTP API under load: requests/s of POST /commands (one PlaceOrder a request,
each a new order, answered once durable), of GET /health and of GET /stock/{sku}
(a read model, bar 5,000 requests/s).

The load tool is wrk (Debian's package, installed by `make setup`), with
`THREADS` threads and `CONNECTIONS` connections kept open, on the same two
cores as the server (one uvicorn process, one engine thread): the figures are
what this machine does with the tool sharing it. A Lua script gives every
POST its own command and order id, so each request is a real order that
reserves stock, passes credit and confirms; concurrent requests share commits.

With `--benchmark-disable` each run lasts a second, so the file doubles as a fast test.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import httpx
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from bench.conftest import Record
from engine.store import open_factory
from projections import select
from projections.db import connect
from projections.runner import catch_up
from tests.engine.http.commands import stock_and_credit
from tests.engine.http.server import TOKEN, running_server

THREADS: Final = 2
CONNECTIONS: Final = 64
# (timed, with --benchmark-disable)
DURATION_S: Final = (10, 1)
SKU: Final = "hot"
CUSTOMER: Final = "cu-bench"
UNITS: Final = 1_000_000_000  # more than any run can order, one unit an order

_PLACE_ORDER_LUA: Final = """
wrk.method = "POST"
local made = 0
function setup(thread)
  made = made + 1
  thread:set("tid", made)
end
local n = 0
local body = [[%s]]
request = function()
  n = n + 1
  local id = "wrk-" .. tid .. "-" .. n
  return wrk.format(nil, nil, nil, (body:gsub("ID", id)))
end
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("http-bench")
    store_url = f"sqlite:///{directory / 'store.db'}"
    db_url = f"sqlite:///{directory / 'readmodels.db'}"
    with running_server(store_url, directory / "serve.log", db_url=db_url) as running:
        setup = stock_and_credit(SKU, CUSTOMER, units=UNITS)
        setup[2]["limit_cents"] = 10**15
        headers = {"Authorization": f"Bearer {TOKEN}"}
        httpx.post(f"{running.url}/commands", json=setup, headers=headers).raise_for_status()
        factory = open_factory(store_url)
        with connect(db_url) as db:
            catch_up(db, factory.application_recorder(), select())
        factory.close()
        yield running.url


def wrk(url: str, duration_s: int, *args: str) -> tuple[float, str]:
    """Requests/s of a wrk run, and its report; fails on any error or non-2xx answer."""
    tool = shutil.which("wrk")
    assert tool is not None, "wrk is not installed: `make setup` installs it (Debian's package)"
    command = [tool, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration_s}s", *args, url]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    report = done.stdout
    assert "Non-2xx" not in report, report
    assert "Socket errors" not in report, report
    rate = re.search(r"Requests/sec:\s+([\d.]+)", report)
    assert rate is not None, report
    return float(rate.group(1)), report


def _place_order_script(directory: Path) -> Path:
    body = {
        "type": "PlaceOrder",
        "command_id": "ID",
        "order_id": "ID",
        "customer_id": CUSTOMER,
        "channel": "web",
        "payment_terms": "net-30",
        "ship_to": {"name": "A", "street": "1", "city": "T", "postal_code": "1", "country": "DE"},
        "lines": [{"sku": SKU, "quantity": 1, "unit_price_cents": 100}],
    }
    script = directory / "place_order.lua"
    script.write_text(_PLACE_ORDER_LUA % json.dumps(body))
    return script


def _run(
    benchmark: BenchmarkFixture, figure: Record, name: str, url: str, *args: str, bar: str = ""
) -> tuple[float, str]:
    duration_s = DURATION_S[1] if benchmark.disabled else DURATION_S[0]
    rate, report = benchmark.pedantic(wrk, args=(url, duration_s, *args), rounds=1, iterations=1)
    if not benchmark.disabled:
        figure(f"{name} (wrk, {CONNECTIONS} connections)", rate, "requests/s", bar)
    return rate, report


def test_post_commands_one_place_order_a_request(
    benchmark: BenchmarkFixture, figure: Record, server: str, tmp_path: Path
) -> None:
    benchmark.group = "http"
    before = httpx.get(f"{server}/health").json()["last_notification_id"]
    script = _place_order_script(tmp_path)
    auth = f"Authorization: Bearer {TOKEN}"
    _, report = _run(
        benchmark,
        figure,
        "POST /commands, one PlaceOrder a request, durable",
        f"{server}/commands",
        *("-s", str(script), "-H", auth, "-H", "Content-Type: application/json"),
    )
    requests = int(re.search(r"(\d+) requests in", report).group(1))  # type: ignore[union-attr]
    after = httpx.get(f"{server}/health").json()["last_notification_id"]
    # Every answered request was an order confirmed: six events each, all committed.
    assert after - before >= 6 * requests


def test_get_health(benchmark: BenchmarkFixture, figure: Record, server: str) -> None:
    benchmark.group = "http"
    _run(benchmark, figure, "GET /health", f"{server}/health")


def test_get_stock_of_a_sku(benchmark: BenchmarkFixture, figure: Record, server: str) -> None:
    benchmark.group = "http"
    assert httpx.get(f"{server}/stock/{SKU}").json()[0]["sku"] == SKU
    _run(benchmark, figure, "GET /stock/{sku}", f"{server}/stock/{SKU}", bar="5,000")
