"""`stockledger submit`: JSON lines in, one answer per line; bad lines refused, none lost."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from engine.cli import app
from engine.store import open_factory

runner = CliRunner()
SHIP_TO = {"name": "A", "street": "1 Road", "city": "Town", "postal_code": "1", "country": "DE"}


def place(command_id: str, order_id: str, quantity: object) -> str:
    return json.dumps(
        {
            "type": "PlaceOrder",
            "command_id": command_id,
            "order_id": order_id,
            "customer_id": "cu1",
            "channel": "web",
            "payment_terms": "net-30",
            "ship_to": SHIP_TO,
            "lines": [{"sku": "A", "quantity": quantity, "unit_price_cents": 250}],
        }
    )


LINES = [
    '{"type":"ConfigureSlot","command_id":"c1","sku":"A","location":"w1"}',
    '{"type":"ReceiveStock","command_id":"c2","sku":"A","location":"w1","quantity":5,"reference":"po"}',
    '{"type":"SetCreditLimit","command_id":"c3","customer_id":"cu1","limit_cents":10000,"payment_terms":"net-30"}',
    place("c4", "o1", -2),
    "{not json",
    "",
    '{"type":"Teleport","command_id":"c6"}',
    place("c7", "o2", 2),
]


def submit(tmp_path: Path, lines: list[str]) -> tuple[int, list[dict[str, object]]]:
    source = tmp_path / "commands.jsonl"
    source.write_text("\n".join(lines) + "\n")
    store = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(app, ["submit", str(source), "--store", store])
    return result.exit_code, [json.loads(line) for line in result.stdout.splitlines()]


def test_each_line_is_answered_and_bad_lines_name_line_and_field(tmp_path: Path) -> None:
    code, replies = submit(tmp_path, LINES)
    assert code == 1
    assert [r["line"] for r in replies] == [1, 2, 3, 4, 5, 7, 8]
    assert "$.lines[0].quantity" in str(replies[3]["error"])
    assert "malformed" in str(replies[4]["error"])
    assert "Teleport" in str(replies[5]["error"])
    last = replies[6]
    assert last["command_id"] == "c7"
    kinds = [e["data"]["type"] for e in last["events"]]  # type: ignore[attr-defined, index]
    assert kinds == [
        "OrderPlaced",
        "StockReserved",
        "OrderStockReserved",
        "CreditApproved",
        "HoldConfirmed",
        "OrderConfirmed",
    ]


def test_a_resubmitted_file_changes_nothing(tmp_path: Path) -> None:
    submit(tmp_path, LINES)
    recorder = open_factory(f"sqlite:///{tmp_path / 'store.db'}").application_recorder()
    written = recorder.max_notification_id()
    code, replies = submit(tmp_path, LINES)
    assert code == 1
    answered = [r for r in replies if "events" in r]
    assert [r["retry"] for r in answered] == [True] * 4
    assert recorder.max_notification_id() == written
