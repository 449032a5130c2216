"""`stockledger project` through the real CLI, on both SQL backends."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from engine.cli import app
from engine.demo import run_demo
from engine.simulator import SimulatorSettings
from engine.store import open_factory

runner = CliRunner()


def test_status_rebuild_run(db_url: str, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/store.db"
    recorder = open_factory(store).application_recorder()
    run_demo(recorder, SimulatorSettings(orders=40, customers=5, skus=10))
    head = recorder.max_notification_id()
    where = ["--store", store, "--db", db_url]

    before = runner.invoke(app, ["project", "status", "--json", *where])
    assert before.exit_code == 0, before.output
    assert {row["lag"] for row in json.loads(before.output)} == {head}

    built = runner.invoke(app, ["project", "rebuild", "orders", "--json", *where])
    assert built.exit_code == 0, built.output
    assert json.loads(built.output)["projections"] == ["orders"]

    ran = runner.invoke(app, ["project", "run", *where])
    assert ran.exit_code == 0, ran.output
    after = json.loads(runner.invoke(app, ["project", "status", "--json", *where]).output)
    assert {(row["checkpoint"], row["lag"]) for row in after} == {(head, 0)}


def test_an_unknown_projection_is_named(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["project", "rebuild", "nope", "--store", f"sqlite:///{tmp_path}/s.db"]
    )
    assert result.exit_code != 0
    assert "no projection 'nope'" in result.output
