"""The Litestar application: its routes, its OpenAPI document, and the engine it opens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import anyio
import uvicorn
from litestar import Litestar, Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import SecurityScheme

from engine.engine import Engine
from engine.http.auth import SECURITY_SCHEME, TokenGuard
from engine.http.dashboard import DASHBOARD_HANDLERS
from engine.http.health import get_health
from engine.http.intake import CommandComponents, post_commands
from engine.http.protocol import HttpProtocol
from engine.http.reads import READ_HANDLERS, ReadModels
from engine.http.settings import HttpSettings, tokens_from_env
from engine.http.writer import EngineWriter
from engine.store import open_factory
from projections.runner import partition_of

SNAPSHOTS: Final = "snapshots"  # the snapshot recorder's name, as `stockledger submit` has it


def create_app(settings: HttpSettings) -> Litestar:
    """The API over `settings.store_url`; the engine opens as the app starts.

    Raises `StoreURLError` for a URL that names no store, `DatabaseURLError`
    for one that names no read-model database.
    """
    factory = open_factory(settings.store_url)
    read_models = ReadModels(settings.read_db_url)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        def open_engine() -> Engine:
            return Engine.open(
                factory.application_recorder(),
                settings.engine,
                snapshots=factory.aggregate_recorder(SNAPSHOTS),
            )

        writer = EngineWriter(open_engine, settings.engine.batch_size_max)
        await anyio.to_thread.run_sync(writer.start)
        app.state.writer = writer
        app.state.recorder = factory.application_recorder()
        await read_models.prepare(partition_of(app.state.recorder))
        app.state.read_models = read_models
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(writer.stop)
            read_models.close()
            factory.close()

    intake = Router("/", route_handlers=[post_commands], guards=[TokenGuard(settings.tokens)])
    return Litestar(
        route_handlers=[intake, get_health, *READ_HANDLERS, *DASHBOARD_HANDLERS],
        lifespan=[lifespan],
        request_max_body_size=settings.request_bytes_max,
        openapi_config=OpenAPIConfig(
            title="stockledger",
            version="1",
            description="Commands in (a bearer token); health; the read models as they land.",
            # The document at /openapi.json, and nothing else claimed: / is the dashboard's.
            path="/openapi.json",
            render_plugins=[JsonRenderPlugin(path="/")],
            components=CommandComponents(
                security_schemes={SECURITY_SCHEME: SecurityScheme(type="http", scheme="bearer")}
            ),
        ),
    )


def serve(store_url: str, read_db_url: str, tokens: tuple[str, ...], host: str, port: int) -> None:
    """Run the API with uvicorn until SIGINT or SIGTERM; queued commands finish first.

    Without `tokens`, those of `STOCKLEDGER_API_TOKENS`. Raises `ValueError`
    (a `SettingsError`, a `StoreURLError` or a `DatabaseURLError`) for settings
    it cannot start with.
    """
    app = create_app(HttpSettings(store_url, tokens or tokens_from_env(), read_db_url))
    # Without an access log: at level warning it is never printed, yet uvicorn
    # would still work out each request's client and quoted path for it.
    uvicorn.run(app, host=host, port=port, http=HttpProtocol, log_level="warning", access_log=False)
