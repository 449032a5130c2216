"""Commands as a storefront integration sends them: JSON lines in, one answer per line out.

A line that does not decode as a command gets an error naming its line number
and what was wrong where (msgspec's path, e.g. `$.lines[0].quantity`); the
lines around it go on. Valid lines are submitted in batches, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

import msgspec

from engine.commands import AnyCommand, json_decoder
from engine.engine import Answer, Engine
from engine.events import Envelope

BATCH_COMMANDS: Final = 1_000
LINE_BYTES_MAX: Final = 1024 * 1024


class Answered(msgspec.Struct, frozen=True):
    line: int
    command_id: str
    retry: bool
    events: list[Envelope]


class Refused(msgspec.Struct, frozen=True):
    line: int
    error: str


Reply = Answered | Refused


def parse(number: int, line: bytes) -> AnyCommand | Refused:
    if len(line) > LINE_BYTES_MAX:
        return Refused(number, f"line is {len(line)} bytes; at most {LINE_BYTES_MAX}")
    try:
        command: AnyCommand = json_decoder.decode(line)
    except msgspec.DecodeError as error:
        return Refused(number, f"not a command: {error}")
    return command


def answer_lines(engine: Engine, lines: Iterable[bytes]) -> Iterator[Reply]:
    """One reply per non-blank line, in input order."""
    pending: list[tuple[int, AnyCommand | Refused]] = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            pending.append((number, parse(number, line)))
        if sum(1 for _, item in pending if not isinstance(item, Refused)) >= BATCH_COMMANDS:
            yield from _flush(engine, pending)
            pending = []
    yield from _flush(engine, pending)


def _flush(engine: Engine, pending: list[tuple[int, AnyCommand | Refused]]) -> Iterator[Reply]:
    commands = [item for _, item in pending if not isinstance(item, Refused)]
    answers: Iterator[Answer] = iter(engine.submit(commands) if commands else [])
    for number, item in pending:
        if isinstance(item, Refused):
            yield item
        else:
            answer = next(answers)
            yield Answered(number, answer.command_id, answer.retry, answer.events)
