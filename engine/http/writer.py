"""The engine's one thread: every submit of the API goes through it.

The engine is a single writer and not thread-safe, so one thread owns it
from opening to closing. Requests queue their commands; the thread takes
every request waiting (up to the engine's batch size), submits them as one
batch, which is one durable commit, and hands each request its own answers.
Under load, concurrent requests so share one commit; alone, a request is a
batch of its own.

A failed submit fails every request of its batch (503: retry, it is
idempotent), and the engine, whose memory may now be ahead of the store, is
opened again from the store for the next batch.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from engine.commands import AnyCommand
from engine.engine import Answer, Engine

_STOP: Final = None
OPEN_TIMEOUT_S: Final = 600.0


class EngineUnavailableError(RuntimeError):
    """The engine could not decide or commit a batch; the request may be retried."""


@dataclass(frozen=True)
class _Request:
    commands: Sequence[AnyCommand]
    loop: asyncio.AbstractEventLoop
    answers: asyncio.Future[list[Answer]]


class EngineWriter:
    def __init__(self, open_engine: Callable[[], Engine], commands_per_batch_max: int) -> None:
        self._open_engine = open_engine
        self._batch_max = commands_per_batch_max
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="engine-writer", daemon=True)
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self.engine: Engine | None = None

    @property
    def is_open(self) -> bool:
        return self.engine is not None and self._thread.is_alive()

    def start(self) -> None:
        """Open the engine (recovery from the store) in the writer's thread; raise why not."""
        self._thread.start()
        if not self._opened.wait(OPEN_TIMEOUT_S):
            msg = f"the engine did not open within {OPEN_TIMEOUT_S:.0f} s"
            raise EngineUnavailableError(msg)
        if self._open_error is not None:
            raise self._open_error

    def stop(self) -> None:
        """Finish the requests queued so far, then stop."""
        self._queue.put(_STOP)
        self._thread.join()

    async def submit(self, commands: Sequence[AnyCommand]) -> list[Answer]:
        """The engine's answers, once their batch is committed."""
        loop = asyncio.get_running_loop()
        answers: asyncio.Future[list[Answer]] = loop.create_future()
        self._queue.put(_Request(commands, loop, answers))
        return await answers

    def _run(self) -> None:
        try:
            self.engine = self._open_engine()
        except BaseException as error:
            self._open_error = error
            return
        finally:
            self._opened.set()
        carried: _Request | None = None
        while True:
            first = carried or self._queue.get()
            if first is _STOP:
                break
            batch, carried, stopping = self._gather(first)
            self._submit(batch)
            if stopping:
                break

    def _gather(self, first: _Request) -> tuple[list[_Request], _Request | None, bool]:
        """Requests waiting, up to the batch size; the one that did not fit is carried over."""
        batch = [first]
        size = len(first.commands)
        while True:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                return batch, None, False
            if request is _STOP:
                return batch, None, True
            if size + len(request.commands) > self._batch_max:
                return batch, request, False
            batch.append(request)
            size += len(request.commands)

    def _submit(self, batch: list[_Request]) -> None:
        commands = [command for request in batch for command in request.commands]
        try:
            if self.engine is None:
                self.engine = self._open_engine()
            answers = self.engine.submit(commands)
        except Exception as error:
            # The engine's memory may now be ahead of the store: the next batch opens it anew.
            self.engine = None
            failure = EngineUnavailableError(f"the engine failed this batch: {error}; retry")
            for request in batch:
                request.loop.call_soon_threadsafe(_fail, request.answers, failure)
            return
        start = 0
        for request in batch:
            end = start + len(request.commands)
            request.loop.call_soon_threadsafe(_resolve, request.answers, answers[start:end])
            start = end


def _resolve(future: asyncio.Future[list[Answer]], answers: list[Answer]) -> None:
    if not future.done():  # the client may have gone (its commands are committed all the same)
        future.set_result(answers)


def _fail(future: asyncio.Future[list[Answer]], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
