"""GET /health and GET /openapi.json against a real server."""

from __future__ import annotations

import httpx

from engine.store import open_factory
from projections import select
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
