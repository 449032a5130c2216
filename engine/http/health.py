"""GET /health: is the store reachable, is the engine open, how far has the store got."""

from __future__ import annotations

from typing import Any

import anyio
import msgspec
from eventsourcing.persistence import ApplicationRecorder
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from engine.http.settings import HEALTH_STORE_TIMEOUT_S
from engine.http.writer import EngineWriter


class Health(msgspec.Struct, frozen=True):
    """`ok` when both hold; `last_notification_id` is the store's last committed event."""

    ok: bool
    store_reachable: bool
    engine_open: bool
    last_notification_id: int | None
    error: str | None = None


async def check(recorder: ApplicationRecorder, writer: EngineWriter) -> Health:
    last: int | None = None
    error: str | None = None
    try:
        with anyio.fail_after(HEALTH_STORE_TIMEOUT_S):
            last = await anyio.to_thread.run_sync(recorder.max_notification_id)
        reachable = True
    except TimeoutError:
        reachable, error = False, f"the store did not answer within {HEALTH_STORE_TIMEOUT_S} s"
    except Exception as failure:
        reachable, error = False, f"the store failed: {failure}"
    engine_open = writer.is_open
    if error is None and not engine_open:
        error = "the engine is not open; it opens again with the next command"
    return Health(reachable and engine_open, reachable, engine_open, last, error)


@get(
    "/health",
    summary="Health",
    responses={
        HTTP_503_SERVICE_UNAVAILABLE: ResponseSpec(
            data_container=Health, description="The store or the engine is down."
        )
    },
)
async def get_health(request: Request[Any, Any, Any]) -> Response[Health]:
    health = await check(request.app.state.recorder, request.app.state.writer)
    return Response(health, status_code=HTTP_200_OK if health.ok else HTTP_503_SERVICE_UNAVAILABLE)
