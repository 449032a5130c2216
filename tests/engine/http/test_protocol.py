"""The protocol `stockledger serve` runs: a response leaves in one write at the
end of the loop's turn, whole and in order, and nothing pending is lost on close."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import urlsplit

from uvicorn.config import Config
from uvicorn.server import ServerState

from engine.http.protocol import CoalescedWrites, HttpProtocol

BODY: Final = b'{"ok":true}'
Call = tuple[Any, ...]


class Recorded(asyncio.Transport):
    """A socket's transport that keeps what is done to it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.calls.append(("write", bytes(data)))

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.calls.append(("writelines", [bytes(data) for data in list_of_data]))

    def close(self) -> None:
        self.calls.append(("close",))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort",))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def test_the_writes_of_one_turn_go_out_together_after_it() -> None:
    async def turns() -> None:
        socket_side = Recorded()
        writes = CoalescedWrites(socket_side, asyncio.get_running_loop())
        writes.write(b"head")
        writes.writelines([b"bo", b"dy"])
        assert socket_side.calls == []
        assert writes.get_write_buffer_size() == 8
        await asyncio.sleep(0)
        assert socket_side.calls == [("writelines", [b"head", b"bo", b"dy"])]
        writes.write(b"next")
        await asyncio.sleep(0)
        assert socket_side.calls[1:] == [("writelines", [b"next"])]

    asyncio.run(turns())


def test_closing_sends_what_is_pending_first_and_aborting_drops_it() -> None:
    async def closes() -> None:
        closed, aborted = Recorded(), Recorded()
        loop = asyncio.get_running_loop()
        writes = CoalescedWrites(closed, loop)
        writes.write(b"last")
        writes.close()
        assert closed.calls == [("writelines", [b"last"]), ("close",)]
        writes = CoalescedWrites(aborted, loop)
        writes.write(b"lost")
        writes.abort()
        await asyncio.sleep(0)
        assert closed.calls == [("writelines", [b"last"]), ("close",)]
        assert aborted.calls == [("abort",)]

    asyncio.run(closes())


def test_a_connection_gone_before_the_turn_ends_drops_its_writes() -> None:
    async def lost() -> None:
        socket_side = Recorded()
        writes = CoalescedWrites(socket_side, asyncio.get_running_loop())
        writes.write(b"answer")
        socket_side.closing = True
        await asyncio.sleep(0)
        assert socket_side.calls == []

    asyncio.run(lost())


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


def test_a_response_leaves_in_one_write_and_pipelined_ones_in_order() -> None:
    config = Config(_ok, http=HttpProtocol, lifespan="off", log_level="warning")

    async def serve() -> list[Call]:
        socket_side = Recorded()
        protocol = HttpProtocol(config, ServerState(), {}, asyncio.get_running_loop())
        protocol.connection_made(socket_side)
        protocol.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        while not socket_side.calls:
            await asyncio.sleep(0)
        protocol.data_received(
            b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        while not socket_side.closing:
            await asyncio.sleep(0)
        return socket_side.calls

    calls = asyncio.run(serve())
    first = calls[0]
    assert first[0] == "writelines"
    assert len(first[1]) == 2
    assert first[1][0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert first[1][1] == BODY
    sent = b"".join(b"".join(call[1]) for call in calls if call[0] == "writelines")
    assert sent.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert sent.endswith(BODY)
    assert calls[-1] == ("close",)


def test_the_server_answers_pipelined_requests_whole_before_it_closes(server: str) -> None:
    address = urlsplit(server)
    request = "GET {} HTTP/1.1\r\nHost: {}\r\n{}\r\n"
    asked = [
        request.format("/health", address.netloc, ""),
        request.format("/openapi.json", address.netloc, "Connection: close\r\n"),
    ]
    with socket.create_connection((address.hostname, address.port), timeout=30.0) as client:
        client.sendall("".join(asked).encode())
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    health, document = answer.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert b'"ok":true' in health
    head, body = document.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.startswith(b"content-length")
    )
    assert len(body) == length
    assert body.endswith(b"}")
