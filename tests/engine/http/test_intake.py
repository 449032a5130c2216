"""POST /commands against a real server on a real SQLite store."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx
import pytest

from engine.http.settings import COMMANDS_PER_REQUEST_MAX, REQUEST_BYTES_MAX
from engine.store import open_factory
from tests.engine.http.commands import kinds, place, stock_and_credit
from tests.engine.http.server import TOKEN, running_server

CONFIRMED = [
    "OrderPlaced",
    "StockReserved",
    "OrderStockReserved",
    "CreditApproved",
    "HoldConfirmed",
    "OrderConfirmed",
]


CLOCK = {"type": "AdvanceClock", "command_id": "clock", "now": 1}


def stored(store_url: str) -> int:
    return open_factory(store_url).application_recorder().max_notification_id() or 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-the-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
    ],
    ids=["none", "wrong", "not-bearer", "longer"],
)
def test_without_a_valid_token_it_is_401_and_nothing_is_applied(
    server: str, store_url: str, headers: dict[str, str]
) -> None:
    before = stored(store_url)
    response = httpx.post(f"{server}/commands", json=place("A", "cu"), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert stored(store_url) == before


def test_a_place_order_round_trip_answers_its_events(client: httpx.Client) -> None:
    setup = client.post("/commands", json=stock_and_credit("rt", "cu-rt"))
    assert setup.status_code == 200
    assert [kinds(a) for a in setup.json()] == [
        ["SlotConfigured"],
        ["StockReceived"],
        ["CreditLimitSet"],
    ]
    command = place("rt", "cu-rt", quantity=2)
    answer = client.post("/commands", json=command).json()
    assert answer["command_id"] == command["command_id"]
    assert answer["retry"] is False
    assert kinds(answer) == CONFIRMED
    placed = answer["events"][0]
    assert placed["stream_id"] == f"order-{command['order_id']}"
    assert placed["data"]["lines"][0]["quantity"] == 2


def test_a_rejected_command_is_answered_with_its_rejection(client: httpx.Client) -> None:
    client.post("/commands", json=stock_and_credit("few", "cu-few", units=1))
    answer = client.post("/commands", json=place("few", "cu-few", quantity=5)).json()
    assert "OrderRejected" in kinds(answer)


def test_a_retry_gets_the_first_answer_and_writes_nothing(
    client: httpx.Client, store_url: str
) -> None:
    client.post("/commands", json=stock_and_credit("re", "cu-re"))
    command = place("re", "cu-re")
    first = client.post("/commands", json=command).json()
    written = stored(store_url)
    again = client.post("/commands", json=command).json()
    assert again["retry"] is True
    assert again["events"] == first["events"]
    assert stored(store_url) == written


def test_a_bad_field_is_422_naming_its_path(client: httpx.Client) -> None:
    response = client.post("/commands", json=place("A", "cu", quantity=-2))
    assert response.status_code == 422
    problem = response.json()
    assert "$.lines[0].quantity" in problem["detail"]
    assert problem["extra"] == {"path": "$.lines[0].quantity"}


def test_a_bad_command_in_an_array_is_422_naming_its_index_and_nothing_is_applied(
    client: httpx.Client, store_url: str
) -> None:
    before = stored(store_url)
    batch = [*stock_and_credit("bad", "cu-bad"), place("bad", "cu-bad", quantity="two")]
    response = client.post("/commands", json=batch)
    assert response.status_code == 422
    problem = response.json()
    assert problem["extra"] == {"path": "$[3].lines[0].quantity", "index": 3}
    assert "command 3 of the array" in problem["detail"]
    assert stored(store_url) == before


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not JSON"),
        (b'{"type":"Teleport","command_id":"t"}', "$.type"),
        (b"[]", "length >= 1"),
        (b"42", "object | array"),
        (json.dumps([CLOCK] * (COMMANDS_PER_REQUEST_MAX + 1)).encode(), "length <= 1000"),
    ],
    ids=["malformed", "unknown-type", "empty-array", "number", "too-many"],
)
def test_a_body_that_is_not_commands_is_422(client: httpx.Client, body: bytes, says: str) -> None:
    response = client.post("/commands", content=body)
    assert response.status_code == 422
    assert says in response.json()["detail"]


def test_a_body_over_the_limit_is_413(client: httpx.Client, store_url: str) -> None:
    before = stored(store_url)
    command = place("A", "cu")
    command["ship_to"] = {**command["ship_to"], "name": "x" * REQUEST_BYTES_MAX}
    response = client.post("/commands", json=command)
    assert response.status_code == 413
    assert stored(store_url) == before


def test_what_was_answered_before_a_bad_body_stays_committed(
    client: httpx.Client, store_url: str
) -> None:
    batch = [*stock_and_credit("kept", "cu-kept"), place("kept", "cu-kept")]
    answered = client.post("/commands", json=batch).json()
    after_batch = stored(store_url)
    assert client.post("/commands", content=b"{not json").status_code == 422
    assert stored(store_url) == after_batch
    again = client.post("/commands", json=batch).json()
    assert [a["retry"] for a in again] == [True] * 4
    assert [a["events"] for a in again] == [a["events"] for a in answered]


def test_concurrent_requests_are_each_answered_their_own(
    server: str, client: httpx.Client, store_url: str
) -> None:
    client.post("/commands", json=stock_and_credit("many", "cu-many", units=1_000))
    commands = [place("many", "cu-many") for _ in range(60)]

    async def send_all() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=server, headers=headers, timeout=30) as concurrent:
            return await asyncio.gather(*(concurrent.post("/commands", json=c) for c in commands))

    responses = asyncio.run(send_all())
    answers = [r.json() for r in responses]
    assert [a["command_id"] for a in answers] == [c["command_id"] for c in commands]
    assert all(kinds(a) == CONFIRMED for a in answers)
    placed = [a["events"][0]["data"]["order_id"] for a in answers]
    assert placed == [c["order_id"] for c in commands]


def test_an_answer_is_durable_before_it_is_sent(tmp_path: Path) -> None:
    """Killed (SIGKILL) right after answering, the server loses nothing it answered."""
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    batch = [*stock_and_credit("d", "cu-d"), place("d", "cu-d")]
    with running_server(store_url, tmp_path / "first.log") as first_server:
        first = httpx.post(f"{first_server.url}/commands", json=batch, headers=headers).json()
        first_server.process.send_signal(signal.SIGKILL)
        first_server.process.wait()
    with running_server(store_url, tmp_path / "second.log") as second_server:
        again = httpx.post(f"{second_server.url}/commands", json=batch, headers=headers).json()
    assert [a["retry"] for a in again] == [True] * 4
    assert [a["events"] for a in again] == [a["events"] for a in first]
