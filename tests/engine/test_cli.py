from __future__ import annotations

import json
from pathlib import Path

import msgspec
from typer.testing import CliRunner

from engine.cli import app
from engine.codec import from_stored, to_stored
from engine.events import TOPIC_TYPES
from engine.store import open_factory

runner = CliRunner()


def test_flash_sale_json_summary_adds_up(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'demo.db'}"
    args = ["flash-sale", "--store", store, "--units", "3000", "--buyers", "5000", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["reserved"] == 3000
    assert summary["rejected"] == 2000
    assert summary["shipped"] + summary["expired"] == 3000
    assert summary["oversold"] == 0
    assert summary["replay_matches"] is True
    assert summary["invariants_hold"] is True
    assert summary["events_replayed"] == summary["events"]


def test_flash_sale_runs_again_on_the_same_store(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'demo.db'}"
    args = ["flash-sale", "--store", store, "--units", "100", "--buyers", "150", "--json"]
    first = json.loads(runner.invoke(app, args).stdout)
    second = runner.invoke(app, [*args[:-1], "--seed", "8", "--json"])
    assert second.exit_code == 0, second.output
    summary = json.loads(second.stdout)
    assert summary["sku"] != first["sku"]
    # The replay reads the whole store: both runs' events.
    assert summary["events_replayed"] == first["events"] + summary["events"]
    assert summary["replay_matches"] is True


def test_flash_sale_prints_a_table_by_default(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'demo.db'}"
    result = runner.invoke(app, ["flash-sale", "--store", store, "--units", "10", "--buyers", "20"])
    assert result.exit_code == 0, result.output
    assert "oversold" in result.stdout
    assert "replayed state equals live state" in result.stdout


def test_a_bad_store_url_names_the_option() -> None:
    result = runner.invoke(app, ["flash-sale", "--store", "mysql://db/x", "--buyers", "1"])
    assert result.exit_code == 2
    assert "--store" in result.output
    assert "mysql://db/x" in result.output


def test_schema_describes_every_event() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    defined = set(schema["$defs"])
    for types in TOPIC_TYPES.values():
        assert {cls.__name__ for cls in types} <= defined


def test_verify_passes_a_clean_store_and_fails_a_corrupted_one(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'v.db'}"
    assert (
        runner.invoke(
            app, ["flash-sale", "--store", store, "--units", "5", "--buyers", "8"]
        ).exit_code
        == 0
    )
    clean = runner.invoke(app, ["verify", "--store", store, "--json"])
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.stdout)["violation"] is None
    recorder = open_factory(store).application_recorder()
    (last,) = recorder.select_notifications(recorder.max_notification_id(), 1)
    # The same event again under the next version: a duplicate event id.
    envelope = msgspec.structs.replace(from_stored(last), version=10**6)
    recorder.insert_events([to_stored(envelope)])
    broken = runner.invoke(app, ["verify", "--store", store, "--json"])
    assert broken.exit_code == 1
    violation = json.loads(broken.stdout)["violation"]
    assert violation["stream_id"] == envelope.stream_id


def test_demo_drives_a_storefront_and_verifies_the_store(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'demo.db'}"
    args = ["demo", "--store", store, "--orders", "1500", "--customers", "100", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["orders"] == 1500
    assert summary["orders_per_s"] > 0
    assert summary["verify"]["ok"] is True
    assert summary["verify"]["events"] == summary["events"]
    assert summary["outcomes"]["confirmed"] > 0
    assert {"expired", "cancelled", "rejected:insufficient_stock"} <= set(summary["outcomes"])
    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert "already holds events" in again.output


def test_history_and_state_of_an_order(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'h.db'}"
    source = tmp_path / "c.jsonl"
    ship_to = '{"name":"A","street":"s","city":"c","postal_code":"1","country":"DE"}'
    source.write_text(
        '{"type":"ConfigureSlot","command_id":"c1","sku":"A","location":"w1"}\n'
        '{"type":"ReceiveStock","command_id":"c2","sku":"A","location":"w1","quantity":5,"reference":"p"}\n'
        '{"type":"SetCreditLimit","command_id":"c3","customer_id":"cu","limit_cents":900,"payment_terms":"net-30"}\n'
        '{"type":"PlaceOrder","command_id":"c4","order_id":"o1","customer_id":"cu","channel":"web",'
        f'"payment_terms":"net-30","ship_to":{ship_to},'
        '"lines":[{"sku":"A","quantity":2,"unit_price_cents":400}]}\n'
    )
    assert runner.invoke(app, ["submit", str(source), "--store", store]).exit_code == 0
    rows = runner.invoke(app, ["history", "order-o1", "--store", store, "--json"])
    assert rows.exit_code == 0, rows.output
    statuses = [json.loads(line)["state"]["status"] for line in rows.stdout.splitlines()]
    assert statuses == ["placed", "reserved", "confirmed"]
    at_two = runner.invoke(app, ["state", "order-o1", "--at", "2", "--store", store, "--json"])
    assert json.loads(at_two.stdout)["state"]["status"] == "reserved"
    missing = runner.invoke(app, ["state", "order-o9", "--store", store])
    assert missing.exit_code == 2
    assert "order-o9" in missing.output
