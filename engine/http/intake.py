"""POST /commands: the storefronts' intake.

The body is one command, or a JSON array of them, in the JSON that
`stockledger submit` reads. It is decoded whole before anything is
submitted: a body that is not all commands is refused (422) with msgspec's
path to what was wrong (`$[3].lines[0].quantity`: the array's fourth
command) and nothing of it is applied, so the storefront fixes it and sends
it again. A body that decodes is submitted as it is and answered once it is
committed: each command's events, or its rejection events; a retry (a
command id answered before) gets the first answer with `retry: true`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Final

import msgspec
from litestar import Request, post
from litestar.exceptions import HTTPException, ServiceUnavailableException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, Operation
from litestar.status_codes import (
    HTTP_401_UNAUTHORIZED,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from engine.commands import AnyCommand
from engine.engine import Answer
from engine.http.auth import SECURITY_SCHEME
from engine.http.settings import COMMANDS_PER_REQUEST_MAX
from engine.http.writer import EngineUnavailableError, EngineWriter

CommandBatch = Annotated[
    list[AnyCommand], msgspec.Meta(min_length=1, max_length=COMMANDS_PER_REQUEST_MAX)
]
CommandsBody = AnyCommand | CommandBatch

_decoder: Final = msgspec.json.Decoder(CommandsBody)
_INDEX: Final = re.compile(r"^\$\[(\d+)\]")
_REF_TEMPLATE: Final = "#/components/schemas/{name}"
(_BODY_SCHEMA,), _BODY_COMPONENTS = msgspec.json.schema_components(
    (CommandsBody,), ref_template=_REF_TEMPLATE
)


class Problem(msgspec.Struct, frozen=True):
    """Litestar's error body: the status, what was wrong, and for a 422 where."""

    status_code: int
    detail: str
    extra: dict[str, Any] | None = None


def decode_commands(body: bytes) -> list[AnyCommand] | AnyCommand:
    """The body's command(s); a 422 naming where it is not a command."""
    try:
        commands: list[AnyCommand] | AnyCommand = _decoder.decode(body)
    except msgspec.ValidationError as error:
        message, _, where = str(error).partition(" - at `")
        path = where.rstrip("`") or "$"
        index = _INDEX.match(path)
        which = f"command {index.group(1)} of the array" if index else "the body"
        detail = f"{which} is not a command: {message} - at `{path}`"
        extra: dict[str, Any] = {"path": path}
        if index:
            extra["index"] = int(index.group(1))
        raise HTTPException(
            detail, status_code=HTTP_422_UNPROCESSABLE_ENTITY, extra=extra
        ) from None
    except msgspec.DecodeError as error:
        raise HTTPException(
            f"the body is not JSON: {error}", status_code=HTTP_422_UNPROCESSABLE_ENTITY
        ) from None
    return commands


@dataclass
class _CommandsOperation(Operation):
    """The request body's schema is msgspec's own, the one the intake decodes with."""

    def to_schema(self) -> dict[str, Any]:
        schema = super().to_schema()
        schema["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _BODY_SCHEMA}},
        }
        return schema


@dataclass
class CommandComponents(Components):
    """The OpenAPI components, with the commands' schemas as msgspec writes them."""

    def to_schema(self) -> dict[str, Any]:
        schema = super().to_schema()
        schema["schemas"] = {**schema.get("schemas", {}), **_BODY_COMPONENTS}
        return schema


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=Problem, description=description, generate_examples=False)


@post(
    "/commands",
    operation_class=_CommandsOperation,
    security=[{SECURITY_SCHEME: []}],
    status_code=200,
    summary="Submit commands",
    description=(
        "One command or an array of commands; answered once committed, in order. "
        "An array of commands is answered with an array of answers."
    ),
    responses={
        HTTP_401_UNAUTHORIZED: _problem("No bearer token, or not a valid one."),
        HTTP_413_REQUEST_ENTITY_TOO_LARGE: _problem("The body is over the size limit."),
        HTTP_422_UNPROCESSABLE_ENTITY: _problem(
            "Not a command (or an array of commands): `extra.path` is where, "
            "`extra.index` which command of the array. Nothing of the body was applied."
        ),
        HTTP_503_SERVICE_UNAVAILABLE: _problem("The engine failed the batch: retry."),
    },
)
async def post_commands(request: Request[Any, Any, Any]) -> Answer | list[Answer]:
    commands = decode_commands(await request.body())
    writer: EngineWriter = request.app.state.writer
    batch = commands if isinstance(commands, list) else [commands]
    try:
        answers = await writer.submit(batch)
    except EngineUnavailableError as error:
        raise ServiceUnavailableException(str(error)) from None
    return answers if isinstance(commands, list) else answers[0]
