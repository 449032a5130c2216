"""GET /health: is the store reachable, is the engine open, how far has the store got,
and how far behind it each read model is."""

from __future__ import annotations

from typing import Any

import anyio
import msgspec
from eventsourcing.persistence import ApplicationRecorder
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from engine.http.reads import ReadModels
from engine.http.settings import HEALTH_STORE_TIMEOUT_S
from engine.http.writer import EngineWriter
from projections.runner import ProjectionStatus


class Health(msgspec.Struct, frozen=True):
    """`ok` when both hold; `last_notification_id` is the store's last committed event.

    `projection_lag` is the most events any read model is behind the store
    (each one's in `projections`), from checkpoints read at most
    `reads.LAG_CHECKPOINTS_FRESH_S` ago; the read models being behind, or
    their database down (`read_models_error`), leaves the intake `ok`.
    """

    ok: bool
    store_reachable: bool
    engine_open: bool
    last_notification_id: int | None
    error: str | None = None
    projection_lag: int | None = None
    projections: list[ProjectionStatus] | None = None
    read_models_error: str | None = None


async def lag(
    recorder: ApplicationRecorder, read_models: ReadModels, head: int
) -> tuple[list[ProjectionStatus] | None, str | None]:
    try:
        with anyio.fail_after(HEALTH_STORE_TIMEOUT_S):
            return await read_models.lag(recorder, head), None
    except TimeoutError:
        return None, f"the read models did not answer within {HEALTH_STORE_TIMEOUT_S} s"
    except Exception as failure:
        return None, f"the read models failed: {failure}"


async def check(
    recorder: ApplicationRecorder, writer: EngineWriter, read_models: ReadModels
) -> Health:
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
    projections, read_models_error = (
        (None, None) if not reachable else await lag(recorder, read_models, last or 0)
    )
    return Health(
        reachable and engine_open,
        reachable,
        engine_open,
        last,
        error,
        projection_lag=None
        if projections is None
        else max((p.lag for p in projections), default=0),
        projections=projections,
        read_models_error=read_models_error,
    )


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
    state = request.app.state
    health = await check(state.recorder, state.writer, state.read_models)
    return Response(health, status_code=HTTP_200_OK if health.ok else HTTP_503_SERVICE_UNAVAILABLE)
