"""GET /health and GET /openapi.json against a real server; the lag's checkpoints read
once an interval."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

import engine.http.reads
from engine.http.reads import LAG_CHECKPOINTS_FRESH_S, ReadModels
from engine.store import open_factory
from projections import select
from projections.runner import ProjectionStatus, status
from tests.engine.http.commands import stock_and_credit


def test_health_names_the_store_the_engine_and_the_last_event(
    server: str, client: httpx.Client, store_url: str
) -> None:
    client.post("/commands", json=stock_and_credit("h", "cu-h"))
    response = httpx.get(f"{server}/health")
    assert response.status_code == 200
    last = open_factory(store_url).application_recorder().max_notification_id()
    health = response.json()
    projections = health.pop("projections")
    assert health == {
        "ok": True,
        "store_reachable": True,
        "engine_open": True,
        "last_notification_id": last,
        "error": None,
        # Nothing runs the projections on this server's store: each is all of it behind.
        "projection_lag": last,
        "read_models_error": None,
    }
    assert [p["projection"] for p in projections] == [p.name for p in select()]
    assert {(p["checkpoint"], p["head"], p["lag"]) for p in projections} == {(0, last, last)}


def test_the_openapi_document_has_the_commands_their_schemas_and_the_token(server: str) -> None:
    document = httpx.get(f"{server}/openapi.json").json()
    intake = document["paths"]["/commands"]["post"]
    assert intake["security"] == [{"bearer": []}]
    assert {"401", "413", "422"} <= set(intake["responses"])
    body = intake["requestBody"]["content"]["application/json"]["schema"]
    refs = json_refs(body)
    schemas = document["components"]["schemas"]
    assert {"PlaceOrder", "CancelOrder", "AdvanceClock"} <= {r.rsplit("/", 1)[1] for r in refs}
    assert schemas["CommandLine"]["properties"]["quantity"]["exclusiveMinimum"] == 0
    assert "/health" in document["paths"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def json_refs(schema: object) -> set[str]:
    if isinstance(schema, dict):
        found = {schema["$ref"]} if "$ref" in schema else set()
        return found.union(*(json_refs(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(json_refs(v) for v in schema))
    return set()


def test_checkpoints_are_read_once_an_interval_and_the_lag_is_from_the_head_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []

    def counted(*args: Any) -> list[ProjectionStatus]:
        reads.append(1)
        return status(*args)

    monkeypatch.setattr(engine.http.reads, "status", counted)
    now_s = [100.0]
    read_models = ReadModels(f"sqlite:///{tmp_path / 'readmodels.db'}", clock_s=lambda: now_s[0])
    recorder = open_factory(f"sqlite:///{tmp_path / 'store.db'}").application_recorder()

    async def lags(head: int) -> set[tuple[int, int, int]]:
        found = await read_models.lag(recorder, head)
        assert [p.projection for p in found] == [p.name for p in select()]
        return {(p.checkpoint, p.head, p.lag) for p in found}

    async def checks() -> None:
        assert await lags(0) == {(0, 0, 0)}
        assert await asyncio.gather(lags(5), lags(7)) == [{(0, 5, 5)}, {(0, 7, 7)}]
        assert len(reads) == 1
        now_s[0] += LAG_CHECKPOINTS_FRESH_S - 0.01
        await lags(9)
        assert len(reads) == 1
        now_s[0] += 0.01
        assert await lags(9) == {(0, 9, 9)}
        assert len(reads) == 2

    try:
        asyncio.run(checks())
    finally:
        read_models.close()
